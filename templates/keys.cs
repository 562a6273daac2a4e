<?cs include:"header.cs" ?>
<h1>Keys</h1>
<?cs call:form_error() ?>
<section class="card" aria-labelledby="llm-h">
  <h2 id="llm-h">LLM provider keys</h2>
  <p class="hint">Your own keys for LLM providers, one per provider, stored encrypted. Only the last four characters are ever shown.</p>
  <?cs if:subcount(LlmKeys) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">Provider</th><th scope="col">Key</th><th scope="col">Label</th><th scope="col">Added</th><th scope="col">Last used</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:k = LlmKeys ?>
    <tr><td><?cs var:k.provider ?><?cs if:k.unusable ?> <span class="pill pill-unusable">Unusable</span><?cs elif:k.failing ?> <span class="pill pill-failing" title="<?cs var:k.detail ?>">Failing</span><?cs else ?> <span class="pill pill-active">Working</span><?cs /if ?><?cs if:k.failing && k.detail ?><br><span class="muted small"><?cs var:k.detail ?></span><?cs /if ?></td><td data-label="Key"><code><?cs var:k.hint ?></code></td><td data-label="Label"><?cs if:k.label ?><?cs var:k.label ?><?cs else ?><span class="muted">None</span><?cs /if ?></td><td data-label="Added"><?cs call:when(k.created) ?></td><td data-label="Last used"><?cs if:k.used.iso ?><?cs call:when(k.used) ?><?cs else ?>Never<?cs /if ?></td>
<?cs if:Page.can_manage ?>
      <td class="actions"><form class="inline" method="post" action="/keys/llm/delete"><?cs call:csrf() ?><input type="hidden" name="key_id" value="<?cs var:k.id ?>"><button class="danger" type="submit">Delete<span class="visually-hidden"> the <?cs var:k.provider ?> key</span></button></form></td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Page.llm_unusable ?><p class="warning">A key marked unusable cannot be decrypted with this server's keys: delete it and add it again.</p><?cs /if ?>
  <?cs else ?><p class="empty">No LLM provider keys yet.</p><?cs /if ?>
<?cs if:Page.can_manage ?>
  <h3>Add a key</h3>
  <?cs if:Page.llm_full ?><p class="warning">Your plan allows no more LLM providers: delete a key, or upgrade on the <a href="/billing">Billing</a> page.</p><?cs /if ?>
  <form class="stack" method="post" action="/keys/llm" novalidate>
    <?cs call:csrf() ?>
    <div class="field<?cs if:Form.provider.error ?> has-error<?cs /if ?>">
      <label for="f-provider">Provider</label>
      <select id="f-provider" name="provider"<?cs if:Form.provider.error && !Form.price_form ?> aria-invalid="true" aria-describedby="e-provider"<?cs /if ?>>
<?cs each:p = Providers ?>
        <option value="<?cs var:p.id ?>"<?cs if:Form.provider.value == p.id ?> selected<?cs /if ?>><?cs var:p.label ?></option>
<?cs /each ?>
      </select>
      <?cs if:Form.provider.error && !Form.price_form ?><p class="field-error" id="e-provider"><?cs var:Form.provider.error ?></p><?cs /if ?>
    </div>
    <div class="field<?cs if:Form.api_key.error ?> has-error<?cs /if ?>">
      <label for="f-api_key">API key</label>
      <input id="f-api_key" name="api_key" type="password" value="" autocomplete="off" aria-describedby="<?cs if:Form.api_key.error ?>e-api_key <?cs /if ?>h-api_key"<?cs if:Form.api_key.error ?> aria-invalid="true"<?cs /if ?>>
      <p class="hint" id="h-api_key">8 to 512 printable characters, as the provider gave it.</p>
      <?cs if:Form.api_key.error ?><p class="field-error" id="e-api_key"><?cs var:Form.api_key.error ?></p><?cs /if ?>
    </div>
    <?cs call:field("label", "Label (optional)", "text", "off") ?>
    <div class="actions"><button class="primary" type="submit">Add key</button></div>
  </form>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="prices-h">
  <h2 id="prices-h">Model prices</h2>
  <p class="hint">Your own price of a model, in US dollars per million tokens: a self-hosted model behind the Other (OpenAI-compatible) provider, or a rate you negotiated. It takes the place of the platform's price for your organization, at the LLM gateway and for the usage you report; a model with neither price is refused.</p>
  <?cs if:subcount(Prices) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Input</th><th scope="col">Output</th><th scope="col">Cached input</th><th scope="col">Updated</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:p = Prices ?>
    <tr><td><code><?cs var:p.model ?></code></td><td data-label="Provider"><?cs var:p.provider ?></td><td data-label="Input">$<?cs var:p.prompt ?></td><td data-label="Output">$<?cs var:p.completion ?></td><td data-label="Cached input">$<?cs var:p.cached ?></td><td data-label="Updated"><?cs call:when(p.updated) ?></td>
<?cs if:Page.can_manage ?>
      <td class="actions"><form class="inline" method="post" action="/keys/prices/delete"><?cs call:csrf() ?><input type="hidden" name="price_id" value="<?cs var:p.id ?>"><button class="danger" type="submit">Delete<span class="visually-hidden"> the price of <?cs var:p.model ?></span></button></form></td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs else ?><p class="empty">No prices of your own: models are priced at the platform's prices.</p><?cs /if ?>
<?cs if:Page.can_manage ?>
  <h3>Set a price</h3>
  <?cs if:Page.prices_full ?><p class="warning">You have 500 prices, the most an organization sets: delete one to add another (a price already set can still be changed).</p><?cs /if ?>
  <form class="stack" method="post" action="/keys/prices" novalidate>
    <?cs call:csrf() ?>
    <div class="field<?cs if:Form.provider.error && Form.price_form ?> has-error<?cs /if ?>">
      <label for="f-price_provider">Provider</label>
      <select id="f-price_provider" name="provider"<?cs if:Form.provider.error && Form.price_form ?> aria-invalid="true" aria-describedby="e-price_provider"<?cs /if ?>>
<?cs each:pv = Providers ?>
        <option value="<?cs var:pv.id ?>"<?cs if:Form.price_provider.value == pv.id ?> selected<?cs /if ?>><?cs var:pv.label ?></option>
<?cs /each ?>
      </select>
      <?cs if:Form.provider.error && Form.price_form ?><p class="field-error" id="e-price_provider"><?cs var:Form.provider.error ?></p><?cs /if ?>
    </div>
    <?cs call:field("model", "Model, as the provider names it", "text", "off") ?>
    <?cs call:field("prompt_usd", "Input, USD per million tokens", "text", "off") ?>
    <?cs call:field("completion_usd", "Output, USD per million tokens", "text", "off") ?>
    <?cs call:field("cached_usd", "Cached input, USD per million tokens (optional: the input's price)", "text", "off") ?>
    <div class="actions"><button class="primary" type="submit">Save price</button></div>
  </form>
<?cs /if ?>
</section>
<?cs if:Key.secret ?>
<section class="card">
  <h2>API key created</h2>
  <p class="warning">Copy this secret now: it is shown only once and cannot be recovered.</p>
  <div class="secret"><?cs var:Key.secret ?></div>
</section>
<?cs /if ?>
<section class="card">
  <h2>API keys</h2>
  <?cs if:subcount(Keys) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:k = Keys ?>
    <tr<?cs if:k.revoked.iso ?> class="revoked"<?cs /if ?>><td><?cs var:k.name ?><?cs if:k.revoked.iso ?> <span class="pill pill-revoked">Revoked</span><?cs /if ?></td><td data-label="Key"><code><?cs var:k.prefix ?>…</code></td><td data-label="Scopes"><?cs var:k.scopes ?></td><td data-label="Created"><?cs call:when(k.created) ?></td><td data-label="Last used"><?cs if:k.used.iso ?><?cs call:when(k.used) ?><?cs else ?>Never<?cs /if ?></td>
<?cs if:Page.can_manage ?>
      <td class="actions"><?cs if:k.revoked.iso ?>Revoked <?cs call:when(k.revoked) ?><?cs else ?><form class="inline" method="post" action="/keys/api/revoke"><?cs call:csrf() ?><input type="hidden" name="key_id" value="<?cs var:k.id ?>"><button class="danger" type="submit">Revoke</button></form><?cs /if ?></td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs else ?><p class="empty">No API keys yet.</p><?cs /if ?>
</section>
<?cs if:Page.can_manage ?>
<section class="card">
  <h2>Create an API key</h2>
  <form class="stack" method="post" action="/keys/api" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("name", "Name", "text", "off") ?>
    <fieldset<?cs if:Form.scopes.error ?> class="has-error"<?cs /if ?>>
      <legend>Scopes</legend>
      <label class="check"><input type="checkbox" name="scopes" value="usage:write"<?cs if:Form.scope.usage_write ?> checked<?cs /if ?>> usage:write — report usage</label>
      <label class="check"><input type="checkbox" name="scopes" value="usage:read"<?cs if:Form.scope.usage_read ?> checked<?cs /if ?>> usage:read — read usage</label>
      <label class="check"><input type="checkbox" name="scopes" value="entitlements:read"<?cs if:Form.scope.entitlements_read ?> checked<?cs /if ?>> entitlements:read — check quotas</label>
      <label class="check"><input type="checkbox" name="scopes" value="billing:read"<?cs if:Form.scope.billing_read ?> checked<?cs /if ?>> billing:read — read billing</label>
      <label class="check"><input type="checkbox" name="scopes" value="storage:read"<?cs if:Form.scope.storage_read ?> checked<?cs /if ?>> storage:read — read records, backups, vectors</label>
      <label class="check"><input type="checkbox" name="scopes" value="storage:write"<?cs if:Form.scope.storage_write ?> checked<?cs /if ?>> storage:write — store records, backups, vectors</label>
      <label class="check"><input type="checkbox" name="scopes" value="llm"<?cs if:Form.scope.llm ?> checked<?cs /if ?>> llm — call models through the gateway</label>
      <?cs if:Form.scopes.error ?><p class="field-error"><?cs var:Form.scopes.error ?></p><?cs /if ?>
    </fieldset>
    <div class="actions"><button class="primary" type="submit">Create key</button></div>
  </form>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
