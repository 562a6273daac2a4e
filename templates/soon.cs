<?cs include:"header.cs" ?>
<?cs # A page of a later release: what it will hold, that nothing on it
     works yet, and (signed in) what does work today.  Every page of the
     navigation is built now, so no route renders it; the shell keeps it
     for the next page announced before it is built (and unit-tmpl
     checks the escaping of every value on it). ?>
<h1><?cs var:Page.title ?></h1>
<section class="soon">
  <p><span class="pill pill-soon">Not built yet</span></p>
  <h2><?cs var:Page.title ?> arrives with a later release of Tollgate</h2>
  <?cs if:Page.soon_what ?><p><?cs var:Page.soon_what ?></p><?cs /if ?>
  <p>Nothing on this page works yet.</p>
<?cs if:User.email ?>
  <p class="muted">Built and working today:</p>
  <ul class="link-list">
<?cs each:item = Nav ?><?cs if:!item.soon ?>
    <li><a href="<?cs var:item.href ?>"><?cs var:item.label ?></a></li>
<?cs /if ?><?cs /each ?>
  </ul>
<?cs else ?>
  <p><a class="button primary" href="/register">Create an account</a> <a class="button" href="/login">Sign in</a></p>
<?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
