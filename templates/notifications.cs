<?cs include:"header.cs" ?>
<?cs # /settings/notifications (page-notify.c): where notifications go,
     which triggers are on, a test, and the delivery log.  The webhook
     URL is never shown again: its hint only. ?>
<h1>Notifications</h1>
<p class="lead">Usage, budget and billing alerts of your organization, by e-mail and to Slack. The same alert is sent at most once in <?cs var:Page.debounce_min ?> minutes; each quota threshold once per billing period.</p>
<?cs if:Page.no_smtp ?><p class="warning">This server has no SMTP_URL: e-mail waits in the outbox until its operator sets one.</p><?cs /if ?>
<?cs call:form_error() ?>
<?cs if:Page.can_manage ?>
<section class="card" aria-labelledby="nset-h">
  <h2 id="nset-h">Settings</h2>
  <form class="stack" method="post" action="/settings/notifications" novalidate>
    <?cs call:csrf() ?>
    <div class="field<?cs if:Form.recipients.error ?> has-error<?cs /if ?>">
      <label for="f-recipients">E-mail recipients</label>
      <textarea id="f-recipients" name="recipients" rows="3" autocomplete="off" aria-describedby="<?cs if:Form.recipients.error ?>e-recipients <?cs /if ?>h-recipients"<?cs if:Form.recipients.error ?> aria-invalid="true"<?cs /if ?>><?cs var:Form.recipients.value ?></textarea>
      <p class="hint" id="h-recipients">One address per line, at most 10. Empty: the organization's owners.</p>
      <?cs if:Form.recipients.error ?><p class="field-error" id="e-recipients"><?cs var:Form.recipients.error ?></p><?cs /if ?>
    </div>
    <div class="field<?cs if:Form.slack_webhook_url.error ?> has-error<?cs /if ?>">
      <label for="f-slack_webhook_url">Slack incoming webhook URL</label>
      <input id="f-slack_webhook_url" name="slack_webhook_url" type="password" value="" autocomplete="off" aria-describedby="<?cs if:Form.slack_webhook_url.error ?>e-slack_webhook_url <?cs /if ?>h-slack_webhook_url"<?cs if:Form.slack_webhook_url.error ?> aria-invalid="true"<?cs /if ?>>
      <p class="hint" id="h-slack_webhook_url"><?cs if:Page.webhook_hint ?>A webhook ending in <code><?cs var:Page.webhook_hint ?></code> is stored, encrypted. Enter a new URL to replace it; leave empty to keep it.<?cs else ?>https://hooks.slack.com/services/... from Slack's Incoming Webhooks. Stored encrypted.<?cs /if ?></p>
      <?cs if:Form.slack_webhook_url.error ?><p class="field-error" id="e-slack_webhook_url"><?cs var:Form.slack_webhook_url.error ?></p><?cs /if ?>
    </div>
    <?cs if:Page.webhook_hint ?><label class="check"><input type="checkbox" name="remove_webhook" value="1"> Remove the Slack webhook</label><?cs /if ?>
    <fieldset<?cs if:Form.triggers.error ?> class="has-error"<?cs /if ?>>
      <legend>Notify when</legend>
<?cs each:t = Triggers ?>
      <label class="check"><input type="checkbox" name="t_<?cs var:t.name ?>" value="1"<?cs if:t.on ?> checked<?cs /if ?>> <?cs var:t.label ?></label>
<?cs /each ?>
      <?cs if:Form.triggers.error ?><p class="field-error"><?cs var:Form.triggers.error ?></p><?cs /if ?>
    </fieldset>
    <div class="actions"><button class="primary" type="submit">Save settings</button></div>
  </form>
  <form class="inline notify-test" method="post" action="/settings/notifications/test"><?cs call:csrf() ?><button class="secondary" type="submit">Send a test notification</button></form>
</section>
<?cs /if ?>
<section class="card" aria-labelledby="nlog-h">
  <h2 id="nlog-h">Delivery log</h2>
  <?cs if:subcount(Log) ?>
  <div class="table-wrap"><table class="list notify-log">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Delivery</th></tr></thead>
    <tbody>
<?cs each:n = Log ?>
    <tr>
      <td><?cs call:when(n.at) ?></td>
      <td data-label="What"><span><?cs var:n.what ?><?cs if:n.subject ?> <span class="muted small"><?cs var:n.subject ?></span><?cs /if ?></span></td>
      <td data-label="Delivery"><span><?cs if:n.status != "queued" ?><span class="pill pill-revoked"><?cs if:n.status == "debounced" ?>Not sent again (debounced)<?cs else ?>Trigger off<?cs /if ?></span><?cs else ?><?cs each:d = n.d ?><span class="delivery delivery-<?cs var:d.status ?>"><?cs var:d.text ?></span><?cs /each ?><?cs /if ?></span></td>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs else ?><p class="empty">Nothing was sent yet.</p><?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
