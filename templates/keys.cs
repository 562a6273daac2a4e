<?cs include:"header.cs" ?>
<h1>Keys</h1>
<section class="card">
  <h2>LLM provider keys</h2>
  <p class="muted">Storing your own LLM provider keys arrives with a later release.</p>
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
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/keys/api" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("name", "Name", "text", "off") ?>
    <fieldset<?cs if:Form.scopes.error ?> class="has-error"<?cs /if ?>>
      <legend>Scopes</legend>
      <label class="check"><input type="checkbox" name="scopes" value="usage:write"<?cs if:Form.scope.usage_write ?> checked<?cs /if ?>> usage:write — report usage</label>
      <label class="check"><input type="checkbox" name="scopes" value="usage:read"<?cs if:Form.scope.usage_read ?> checked<?cs /if ?>> usage:read — read usage</label>
      <label class="check"><input type="checkbox" name="scopes" value="entitlements:read"<?cs if:Form.scope.entitlements_read ?> checked<?cs /if ?>> entitlements:read — check quotas</label>
      <label class="check"><input type="checkbox" name="scopes" value="billing:read"<?cs if:Form.scope.billing_read ?> checked<?cs /if ?>> billing:read — read billing</label>
      <?cs if:Form.scopes.error ?><p class="field-error"><?cs var:Form.scopes.error ?></p><?cs /if ?>
    </fieldset>
    <div class="actions"><button class="primary" type="submit">Create key</button></div>
  </form>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
