<?cs include:"header.cs" ?>
<?cs # An error answered by req_error() on a portal page, in the shell
     (page_error): what happened in words, the server's message, a way
     back, and the request id to quote. ?>
<section class="error-box">
  <p class="error-code">Error <?cs var:Error.status ?> · <?cs var:Page.title ?></p>
  <h1><?cs var:Error.heading ?></h1>
  <p><?cs var:Error.message ?></p>
  <p class="actions">
<?cs if:User.email ?>
    <a class="button primary" href="/dashboard">Back to the dashboard</a>
<?cs else ?>
    <a class="button primary" href="/login">Sign in</a>
    <a class="button" href="/register">Create an account</a>
<?cs /if ?>
  </p>
  <p class="muted request-id">Request id <code><?cs var:Error.request_id ?></code>: quote it if you contact support.</p>
</section>
<?cs include:"footer.cs" ?>
