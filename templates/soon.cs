<?cs include:"header.cs" ?>
<h1><?cs var:Page.title ?></h1>
<section class="soon">
  <p>This page is not built yet: it arrives with a later release of Tollgate.</p>
  <p class="muted">Everything else in the navigation works today.</p>
</section>
<?cs include:"footer.cs" ?>
