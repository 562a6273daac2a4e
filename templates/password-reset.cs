<?cs include:"header.cs" ?>
<div class="auth-box">
<?cs if:Reset.sent ?>
  <h1>Check your mail</h1>
  <p>If an account exists for that address, we sent a link to <strong><?cs var:Reset.email ?></strong>. It works once, within an hour, to choose a new password.</p>
  <p class="muted">Nothing after a few minutes? Look in the spam folder, check the address, or ask again.</p>
  <p class="switch"><a href="/login">Back to sign in</a></p>
<?cs else ?>
  <h1>Reset your password</h1>
  <p class="muted">Enter the address you sign in with: we will mail you a link to choose a new password.</p>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/password-reset" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("email", "E-mail address", "email", "username") ?>
    <div class="actions"><button class="primary" type="submit">Send the link</button></div>
  </form>
  <p class="switch">Remembered it? <a href="/login">Sign in</a></p>
<?cs /if ?>
</div>
<?cs include:"footer.cs" ?>
