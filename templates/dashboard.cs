<?cs include:"header.cs" ?>
<?cs include:"usage-meter.cs" ?>
<h1><?cs var:Tenant.name ?></h1>
<?cs if:User.unverified ?><div class="flash notice verify-notice" role="status">Confirm your e-mail address <strong><?cs var:User.email ?></strong> with the link we sent to it: until then you cannot invite members.
  <form class="inline" method="post" action="/verify/resend"><?cs call:csrf() ?><button class="linkbutton" type="submit">Send a new link</button></form></div><?cs /if ?>
<div class="grid">
  <section class="card">
    <h2>Organization</h2>
    <dl class="facts">
      <dt>Plan</dt><dd><?cs var:Tenant.plan_name ?></dd>
      <dt>Status</dt><dd><span class="pill pill-<?cs var:Tenant.status ?>"><?cs var:Tenant.status_label ?></span></dd>
      <dt>Seats</dt><dd><?cs var:Tenant.members_text ?><?cs if:Tenant.seat_limit ?> of <?cs var:Tenant.seat_limit ?><?cs /if ?></dd>
      <dt>Created</dt><dd><?cs var:Tenant.created_date ?></dd>
    </dl>
  </section>
  <section class="card">
    <h2>Members</h2>
    <?cs if:subcount(Members) ?>
    <ul>
    <?cs each:m = Members ?><li><?cs var:m.email ?> <span class="pill pill-<?cs var:m.role ?>"><?cs var:m.role_label ?></span></li><?cs /each ?>
    </ul>
    <?cs else ?><p class="empty">No members.</p><?cs /if ?>
    <p><a href="/team">Manage the team</a></p>
  </section>
  <section class="card">
    <h2>API keys</h2>
    <?cs if:subcount(Keys) ?>
    <ul>
    <?cs each:k = Keys ?><li><code><?cs var:k.prefix ?>…</code> <?cs var:k.name ?></li><?cs /each ?>
    </ul>
    <?cs else ?><p class="empty">No API keys yet.</p><?cs /if ?>
    <p><a href="/keys">Manage keys</a></p>
  </section>
  <section class="card usage-card" aria-labelledby="dash-usage-h">
    <h2 id="dash-usage-h">Usage this period</h2>
    <?cs if:subcount(UsageMeters) ?>
    <ul class="meters">
    <?cs each:m = UsageMeters ?><li><?cs call:meter(m) ?></li><?cs /each ?>
    </ul>
    <?cs else ?><p class="empty">Your plan has no quotas per period.</p><?cs /if ?>
    <p><a href="/usage">See usage</a></p>
  </section>
  <section class="card spend-card" aria-labelledby="dash-spend-h">
    <h2 id="dash-spend-h">Spend this period</h2>
    <p class="spend-total"><?cs var:Spend.total ?> <span class="muted small">LLM cost since <time datetime="<?cs var:Spend.from_iso ?>"><?cs var:Spend.from ?></time></span></p>
    <?cs if:!Spend.any ?><p class="muted">No LLM usage in this period yet.</p><?cs /if ?>
    <?cs if:Spend.agent || Spend.overage ?>
    <dl class="facts">
      <?cs if:Spend.agent ?><dt>Top agent</dt><dd><?cs var:Spend.agent ?> <span class="muted"><?cs var:Spend.agent_cost ?></span></dd><?cs /if ?>
      <?cs if:Spend.overage ?><dt>Estimated overage</dt><dd><?cs var:Spend.overage ?></dd><?cs /if ?>
    </dl>
    <?cs /if ?>
    <p><a href="/usage">Cost per agent, provider and model</a></p>
  </section>
</div>
<?cs if:Page.can_audit ?>
<section class="card">
  <h2>Recent activity</h2>
  <?cs if:subcount(Audit) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th></tr></thead>
    <tbody>
    <?cs each:e = Audit ?><tr><td><?cs call:when(e.at) ?></td><td data-label="Who"><?cs call:named(e.actor_name, e.actor) ?></td><td data-label="What"><?cs var:e.action ?></td><td data-label="Target"><?cs call:named(e.target_name, e.target) ?></td></tr><?cs /each ?>
    </tbody>
  </table></div>
  <p><a href="/audit">Full audit log</a></p>
  <?cs else ?><p class="empty">Nothing yet.</p><?cs /if ?>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
