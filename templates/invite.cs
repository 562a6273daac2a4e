<?cs include:"header.cs" ?>
<div class="auth-box">
<?cs if:Invite.valid ?>
  <h1>Join <?cs var:Invite.tenant ?></h1>
  <p>You are invited as <span class="pill pill-<?cs var:Invite.role ?>"><?cs var:Invite.role ?></span> with the address <strong><?cs var:Invite.email ?></strong>.</p>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/invite/<?cs var:url_escape(Invite.token) ?>" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("name", "Your name (optional)", "text", "name") ?>
    <?cs call:field("password", "Password (your existing one if you already have an account)", "password", "new-password") ?>
    <div class="actions"><button class="primary" type="submit">Accept invitation</button></div>
  </form>
<?cs else ?>
  <h1>Invitation not valid</h1>
  <p>This invitation link was already used, was revoked, or has expired. Ask the person who invited you for a new one.</p>
  <p class="switch"><a href="/login">Sign in</a></p>
<?cs /if ?>
</div>
<?cs include:"footer.cs" ?>
