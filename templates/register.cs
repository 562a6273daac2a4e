<?cs include:"header.cs" ?>
<div class="auth-box">
  <h1>Create your account</h1>
  <p class="muted">You start on the free plan.</p>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/register" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("organization", "Organization name", "text", "organization") ?>
    <?cs call:field("name", "Your name (optional)", "text", "name") ?>
    <?cs call:field("email", "E-mail address", "email", "email") ?>
    <?cs if:Form.email_taken ?><p class="field-hint"><a href="/login">Sign in instead</a>, or <a href="/password-reset">reset the password</a> if it is yours.</p><?cs /if ?>
    <?cs call:field("password", "Password (12 characters or more)", "password", "new-password") ?>
    <div class="actions"><button class="primary" type="submit">Create account</button></div>
  </form>
  <p class="switch">Already have an account? <a href="/login">Sign in</a></p>
</div>
<?cs include:"footer.cs" ?>
