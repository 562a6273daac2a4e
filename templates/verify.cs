<?cs include:"header.cs" ?>
<div class="auth-box">
<?cs if:Verify.valid ?>
  <h1>Confirm your e-mail address</h1>
  <p>Confirm that <strong><?cs var:Verify.email ?></strong> is your address: then you can invite people to your organization.</p>
  <form class="stack" method="post" action="/verify/<?cs var:url_escape(Verify.token) ?>">
    <?cs call:csrf() ?>
    <div class="actions"><button class="primary" type="submit">Confirm my address</button></div>
  </form>
<?cs else ?>
  <h1>Confirmation link not valid</h1>
  <p>This link was already used or has expired. Sign in and ask for a new one from the dashboard.</p>
  <p class="switch"><a href="/login">Sign in</a></p>
<?cs /if ?>
</div>
<?cs include:"footer.cs" ?>
