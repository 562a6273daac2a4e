<?cs include:"header.cs" ?>
<div class="auth-box">
<?cs if:Reset.valid ?>
  <h1>Choose a new password</h1>
  <p>For the account of <strong><?cs var:Reset.email ?></strong>. Setting it signs you out everywhere.</p>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/reset/<?cs var:url_escape(Reset.token) ?>" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("new_password", "New password (12 characters or more)", "password", "new-password") ?>
    <div class="actions"><button class="primary" type="submit">Set the new password</button></div>
  </form>
<?cs else ?>
  <h1>Reset link not valid</h1>
  <p>This password reset link was already used or has expired: a link works once, within an hour.</p>
  <p class="switch"><a href="/password-reset">Ask for a new link</a> or <a href="/login">sign in</a></p>
<?cs /if ?>
</div>
<?cs include:"footer.cs" ?>
