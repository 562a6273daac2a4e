<?cs include:"header.cs" ?>
<div class="auth-box">
  <h1>Sign in</h1>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/login" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("email", "E-mail address", "email", "username") ?>
    <?cs call:field("password", "Password", "password", "current-password") ?>
    <p class="hint"><a href="/password-reset">Forgot password?</a></p>
    <div class="actions"><button class="primary" type="submit">Sign in</button></div>
  </form>
  <p class="switch">New to Tollgate? <a href="/register">Create an account</a></p>
</div>
<?cs include:"footer.cs" ?>
