<?cs include:"header.cs" ?>
<?cs # /channels (page-channels.c): the Slack and WhatsApp connections
     with their status; for admins a test button in each row (WhatsApp
     asks for a recipient in a <details>, no script), disconnect
     (confirmed on the next page), "Add to Slack" and the WhatsApp form.
     The access token field is never filled back in. ?>
<h1>Channels</h1>
<p class="lead"><?cs var:Page.channels_text ?></p>
<?cs call:form_error() ?>
<section class="card" aria-labelledby="channels-h">
  <h2 id="channels-h">Connected channels</h2>
  <?cs if:subcount(Channels) ?>
  <div class="table-wrap"><table class="list channels">
    <thead><tr><th scope="col">Channel</th><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Last test</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:c = Channels ?>
    <tr>
      <td><?cs var:c.kind_label ?>: <?cs var:c.name ?><span class="channel-where muted small"><?cs if:c.target ?><?cs var:c.target ?> · <?cs /if ?>connected <?cs call:when(c.created) ?></span></td>
      <td data-label="Agent"><?cs if:c.agent ?><?cs var:c.agent ?><?cs else ?><span class="muted">Any agent</span><?cs /if ?></td>
      <td data-label="Status"><span><span class="pill pill-<?cs var:c.status ?>"><?cs var:c.status_label ?></span><?cs if:c.detail ?><p class="channel-detail muted small"><?cs var:c.detail ?></p><?cs /if ?></span></td>
      <td data-label="Last test"><?cs if:c.tested.iso ?><?cs call:when(c.tested) ?><?cs else ?><span class="muted">Never</span><?cs /if ?></td>
<?cs if:Page.can_manage ?>
      <td class="actions">
<?cs if:c.kind == "whatsapp" ?>
        <details class="agent-edit">
          <summary>Send a test<span class="visually-hidden"> through <?cs var:c.name ?></span></summary>
          <form class="agent-budget" method="post" action="/channels/test" novalidate>
            <?cs call:csrf() ?>
            <input type="hidden" name="channel_id" value="<?cs var:c.id ?>">
            <div class="field">
              <label for="to-<?cs var:c.id ?>">Recipient's number</label>
              <input id="to-<?cs var:c.id ?>" name="to" type="tel" inputmode="tel" autocomplete="off" aria-describedby="h-to-<?cs var:c.id ?>">
              <p class="hint" id="h-to-<?cs var:c.id ?>">International form, such as +15551234567.</p>
            </div>
            <button class="primary" type="submit">Send</button>
          </form>
        </details>
<?cs else ?>
        <form class="inline" method="post" action="/channels/test"><?cs call:csrf() ?><input type="hidden" name="channel_id" value="<?cs var:c.id ?>"><button class="secondary" type="submit">Send a test<span class="visually-hidden"> to <?cs var:c.name ?> <?cs var:c.target ?></span></button></form>
<?cs /if ?>
        <form class="inline" method="post" action="/channels/disconnect"><?cs call:csrf() ?><input type="hidden" name="channel_id" value="<?cs var:c.id ?>"><button class="danger" type="submit">Disconnect<span class="visually-hidden"> <?cs var:c.name ?></span></button></form>
      </td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs else ?><p class="empty">No channels yet.<?cs if:Page.can_manage ?> Add Slack or WhatsApp below.<?cs /if ?></p><?cs /if ?>
</section>
<?cs if:Page.can_manage ?>
<?cs if:Page.channels_full ?><p class="warning">Every channel your plan allows is in use: disconnect one, or upgrade on the <a href="/billing">Billing</a> page, to add another.</p><?cs /if ?>
<section class="card" aria-labelledby="slack-h">
  <h2 id="slack-h">Slack</h2>
<?cs if:Page.slack ?>
  <p>Slack asks you to pick a workspace and a channel, then sends you back here.</p>
  <form class="slack-add" method="post" action="/channels/slack">
    <?cs call:csrf() ?>
    <div class="field">
      <label for="slack-agent">For the agent</label>
      <select id="slack-agent" name="agent_id">
        <option value="">Any agent</option>
<?cs each:a = AgentChoices ?>
        <option value="<?cs var:a.id ?>"><?cs var:a.name ?></option>
<?cs /each ?>
      </select>
    </div>
    <div class="actions"><button class="primary" type="submit" id="add-to-slack">Add to Slack</button></div>
  </form>
<?cs else ?>
  <p class="muted">Slack is not configured on this server: its operator sets SLACK_CLIENT_ID and SLACK_CLIENT_SECRET.</p>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="wa-h">
  <h2 id="wa-h">WhatsApp</h2>
  <p>The phone number id and a permanent access token of your WhatsApp Business account (Meta's WhatsApp Manager). Tollgate checks them with Meta before storing the token, encrypted.</p>
  <form class="stack" method="post" action="/channels/whatsapp" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("phone_number_id", "Phone number id", "text", "off") ?>
    <div class="field<?cs if:Form.access_token.error ?> has-error<?cs /if ?>">
      <label for="f-access_token">Access token</label>
      <input id="f-access_token" name="access_token" type="password" value="" autocomplete="off"<?cs if:Form.access_token.error ?> aria-invalid="true" aria-describedby="e-access_token"<?cs /if ?>>
      <?cs if:Form.access_token.error ?><p class="field-error" id="e-access_token"><?cs var:Form.access_token.error ?></p><?cs /if ?>
    </div>
    <?cs call:field("display_name", "Name to show (optional)", "text", "off") ?>
    <div class="field">
      <label for="wa-agent">For the agent</label>
      <select id="wa-agent" name="agent_id">
        <option value="">Any agent</option>
<?cs each:a = AgentChoices ?>
        <option value="<?cs var:a.id ?>"<?cs if:Form.agent_id.value == a.id ?> selected<?cs /if ?>><?cs var:a.name ?></option>
<?cs /each ?>
      </select>
    </div>
    <div class="actions"><button class="primary" type="submit">Connect WhatsApp</button></div>
  </form>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
