<?cs include:"header.cs" ?>
<h1>Pricing</h1>
<p class="lead">Every plan runs the same product; they differ in how much they include. Prices are in US dollars, before tax.</p>
<?cs if:User.email ?><div class="flash notice" role="status">Your organization is on the <strong><?cs var:Tenant.plan_name ?></strong> plan. <?cs if:Pricing.unconfigured ?>Billing is not configured on this server: every organization is on the Free plan.<?cs elif:Pricing.can_buy ?>Choose a plan below to change it on the <a href="/billing">Billing</a> page.<?cs else ?>An owner can change it on the <a href="/billing">Billing</a> page.<?cs /if ?></div><?cs /if ?>
<?cs include:"plan-cards.cs" ?>
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
