<?cs include:"header.cs" ?>
<h1>Pricing</h1>
<p class="lead">Every plan runs the same product; they differ in how much they include. Prices are in US dollars, before tax.</p>
<?cs if:User.email ?><div class="flash notice" role="status">Changing plans from the portal arrives with billing, in a later release. Your organization is on <strong><?cs var:Tenant.plan_name ?></strong>.</div><?cs /if ?>
<div class="plans">
<?cs each:p = Plans ?>
  <section class="card plan">
    <h2><?cs var:p.name ?></h2>
    <p class="price"><strong><?cs var:p.price ?></strong> <span class="muted"><?cs var:p.per ?></span></p>
    <?cs if:p.trial ?><p class="muted"><?cs var:p.trial ?></p><?cs /if ?>
    <dl class="facts">
    <?cs each:q = p.Quotas ?><dt><?cs var:q.label ?></dt><dd><?cs var:q.value ?></dd><?cs /each ?>
    </dl>
    <?cs if:!User.email ?><p><a class="button<?cs if:p.id == "free" ?> primary<?cs /if ?>" href="/register">Start free</a></p><?cs /if ?>
  </section>
<?cs /each ?>
</div>
<section class="card">
  <h2>Features</h2>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">Feature</th><?cs each:p = Plans ?><th scope="col"><?cs var:p.name ?></th><?cs /each ?></tr></thead>
    <tbody>
<?cs each:f = Features ?>
    <tr><td><?cs var:f.label ?></td><?cs each:p = Plans ?><td data-label="<?cs var:p.name ?>"><?cs if:p.has[f.id] ?>Included<?cs else ?><span class="muted">—</span><?cs /if ?></td><?cs /each ?></tr>
<?cs /each ?>
    </tbody>
  </table></div>
</section>
<?cs include:"footer.cs" ?>
