<?cs include:"header.cs" ?>
<?cs # /agents (page-agents.c): the agents with their status, budget,
     this period's spend and budget status; for admins a budget form in
     each active row (a <details>, no script), deactivate (confirmed on
     the next page) or reactivate, and the form that adds an agent.  A
     cell of several parts is wrapped in one span: on a phone each cell
     is a two-column grid, label and value. ?>
<h1>Agents</h1>
<p class="lead"><?cs var:Page.agents_text ?></p>
<section class="card" aria-labelledby="agents-h">
  <h2 id="agents-h">Agents</h2>
  <?cs if:subcount(Agents) ?>
  <div class="table-wrap"><table class="list agents">
    <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Budget</th><th scope="col" class="num">Spent this period</th><th scope="col">Budget status</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:a = Agents ?>
    <tr<?cs if:!a.active ?> class="revoked"<?cs /if ?>>
      <td><?cs var:a.name ?><span class="agent-meta muted small">Added <?cs call:when(a.created) ?> · id <code><?cs var:a.id ?></code></span></td>
      <td data-label="Status"><span><?cs if:a.active ?><span class="pill pill-active">Active</span><?cs else ?><span class="pill pill-deactivated">Deactivated</span> <span class="muted small"><?cs var:a.reason ?></span><?cs /if ?></span></td>
      <td data-label="Budget"><span><?cs if:a.budget ?><?cs var:a.budget ?> <span class="muted small"><?cs var:a.action_label ?></span><?cs else ?><span class="muted">None</span><?cs /if ?></span></td>
      <td data-label="Spent" class="num"><?cs var:a.spend ?></td>
      <td data-label="Budget status"><span><span class="pill pill-budget-<?cs var:a.status ?>"><?cs var:a.status_label ?></span><?cs if:a.percent ?> <span class="muted small"><?cs var:a.percent ?> used</span><?cs /if ?></span></td>
<?cs if:Page.can_manage ?>
      <td class="actions">
<?cs if:a.active ?>
        <details class="agent-edit"<?cs if:a.error ?> open<?cs /if ?>>
          <summary>Edit budget<span class="visually-hidden"> of <?cs var:a.name ?></span></summary>
          <form class="agent-budget" method="post" action="/agents/budget" novalidate>
            <?cs call:csrf() ?>
            <input type="hidden" name="agent_id" value="<?cs var:a.id ?>">
            <div class="field<?cs if:a.error ?> has-error<?cs /if ?>">
              <label for="b-<?cs var:a.id ?>">Budget in USD</label>
              <input id="b-<?cs var:a.id ?>" name="budget_limit_usd" type="text" inputmode="decimal" value="<?cs var:a.budget_usd ?>" autocomplete="off" aria-describedby="<?cs if:a.error ?>e-b-<?cs var:a.id ?> <?cs /if ?>h-b-<?cs var:a.id ?>"<?cs if:a.error ?> aria-invalid="true"<?cs /if ?>>
              <p class="hint" id="h-b-<?cs var:a.id ?>">Empty for no budget.</p>
              <?cs if:a.error ?><p class="field-error" id="e-b-<?cs var:a.id ?>"><?cs var:a.error ?></p><?cs /if ?>
            </div>
            <div class="field">
              <label for="act-<?cs var:a.id ?>">When used up</label>
              <select id="act-<?cs var:a.id ?>" name="budget_action">
                <option value="block"<?cs if:a.action == "block" ?> selected<?cs /if ?>>Block usage</option>
                <option value="alert"<?cs if:a.action == "alert" ?> selected<?cs /if ?>>Alert only</option>
              </select>
            </div>
            <button class="primary" type="submit">Save</button>
          </form>
        </details>
        <form class="inline" method="post" action="/agents/deactivate"><?cs call:csrf() ?><input type="hidden" name="agent_id" value="<?cs var:a.id ?>"><button class="danger" type="submit">Deactivate<span class="visually-hidden"> <?cs var:a.name ?></span></button></form>
<?cs else ?>
        <form class="inline" method="post" action="/agents/reactivate"><?cs call:csrf() ?><input type="hidden" name="agent_id" value="<?cs var:a.id ?>"><button class="secondary" type="submit">Reactivate<span class="visually-hidden"> <?cs var:a.name ?></span></button></form>
<?cs /if ?>
      </td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Page.agents_more ?><p class="muted">The newest agents are shown; the API lists them all.</p><?cs /if ?>
  <p class="hint">A budget applies to each billing period. Near the budget means 80&nbsp;% of it is spent; once it is used up, an agent that blocks has its usage refused until the next period, and one that alerts only notifies.</p>
  <?cs else ?><p class="empty">No agents yet.<?cs if:Page.can_manage ?> Add one below; your programs then report usage with its id.<?cs /if ?></p><?cs /if ?>
</section>
<?cs if:Page.can_manage ?>
<section class="card" aria-labelledby="agent-new-h">
  <h2 id="agent-new-h">Add an agent</h2>
  <?cs if:Page.agents_full ?><p class="warning">Every active agent your plan allows is in use: deactivate one, or upgrade on the <a href="/billing">Billing</a> page, to add another.</p><?cs /if ?>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/agents" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("name", "Name", "text", "off") ?>
    <div class="field<?cs if:Form.budget_limit_usd.error ?> has-error<?cs /if ?>">
      <label for="f-budget_limit_usd">Budget per billing period, in USD (optional)</label>
      <input id="f-budget_limit_usd" name="budget_limit_usd" type="text" inputmode="decimal" value="<?cs var:Form.budget_limit_usd.value ?>" autocomplete="off" aria-describedby="<?cs if:Form.budget_limit_usd.error ?>e-budget_limit_usd <?cs /if ?>h-budget_limit_usd"<?cs if:Form.budget_limit_usd.error ?> aria-invalid="true"<?cs /if ?>>
      <p class="hint" id="h-budget_limit_usd">Such as 25 or 12.50; empty for no budget.</p>
      <?cs if:Form.budget_limit_usd.error ?><p class="field-error" id="e-budget_limit_usd"><?cs var:Form.budget_limit_usd.error ?></p><?cs /if ?>
    </div>
    <div class="field<?cs if:Form.budget_action.error ?> has-error<?cs /if ?>">
      <label for="f-budget_action">When the budget is used up</label>
      <select id="f-budget_action" name="budget_action">
        <option value="block"<?cs if:Form.budget_action.value != "alert" ?> selected<?cs /if ?>>Block the agent's usage</option>
        <option value="alert"<?cs if:Form.budget_action.value == "alert" ?> selected<?cs /if ?>>Alert only</option>
      </select>
      <?cs if:Form.budget_action.error ?><p class="field-error"><?cs var:Form.budget_action.error ?></p><?cs /if ?>
    </div>
    <div class="actions"><button class="primary" type="submit">Add agent</button></div>
  </form>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
