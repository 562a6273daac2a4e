<?cs include:"header.cs" ?>
<?cs include:"usage-meter.cs" ?>
<?cs # /usage (page-usage.c): the period chooser and the CSV export, a
     meter per quota, the daily chart of one metric (SVG drawn from the
     coordinates page-usage.c computed, in the units of its viewBox; its
     points again as a table in a <details>), the agents, the cost per
     provider and model, messages per channel and the period's alerts. ?>
<h1>Usage</h1>
<div class="usage-head">
  <p class="lead">From <time datetime="<?cs var:Usage.from_iso ?>"><?cs var:Usage.from ?></time> to <time datetime="<?cs var:Usage.to_iso ?>"><?cs var:Usage.to ?></time></p>
  <a class="button" href="/usage/export.csv?period=<?cs var:url_escape(Usage.period) ?>" download>Export CSV<span class="visually-hidden"> of this period</span></a>
</div>
<nav class="periods" aria-label="Period">
  <ul>
<?cs each:p = UsagePeriods ?>
    <li><a href="/usage?period=<?cs var:url_escape(p.key) ?>&amp;metric=<?cs var:url_escape(Chart.metric) ?>"<?cs if:p.selected ?> aria-current="page"<?cs /if ?>><?cs var:p.label ?></a></li>
<?cs /each ?>
  </ul>
</nav>
<section class="card" aria-labelledby="quotas-h">
  <h2 id="quotas-h">Quotas</h2>
  <dl class="facts">
    <dt>LLM cost</dt><dd><?cs var:Usage.llm_cost ?></dd>
    <?cs if:Usage.overage ?><dt>Estimated overage</dt><dd><?cs var:Usage.overage ?> <span class="muted small">beyond what the plan includes</span></dd><?cs /if ?>
  </dl>
<?cs if:subcount(UsageMeters) ?>
  <ul class="meters">
<?cs each:m = UsageMeters ?>
    <li><?cs call:meter(m) ?>
      <?cs if:m.overage ?><p class="meter-over"><strong><?cs var:m.overage ?> over</strong> the included amount: <?cs var:m.overage_cost ?> so far.</p><?cs /if ?>
      <?cs if:m.rule ?><p class="hint"><?cs var:m.rule ?></p><?cs /if ?></li>
<?cs /each ?>
  </ul>
<?cs else ?>
  <p class="empty">Your plan has no quotas per period.</p>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="storage-h">
  <h2 id="storage-h">Storage</h2>
  <p class="hint">Records, backups and vector payloads are stored as the ciphertext your devices send; Tollgate cannot read them. Vectors themselves are stored readable.</p>
  <ul class="meters">
<?cs each:m = StorageMeters ?>
    <li><?cs if:m.none ?><p class="meter-head"><span class="meter-label"><?cs var:m.label ?></span> <span class="meter-value muted">not included in your plan</span></p><?cs else ?><?cs call:meter(m) ?><?cs /if ?></li>
<?cs /each ?>
  </ul>
  <table class="compact">
    <caption class="visually-hidden">What is stored</caption>
    <thead><tr><th scope="col">Kind</th><th scope="col" class="num">Items</th><th scope="col" class="num">Size</th></tr></thead>
    <tbody>
<?cs each:k = StorageKinds ?>
    <tr><th scope="row"><?cs var:k.what ?></th><td class="num"><?cs var:k.count ?></td><td class="num"><?cs var:k.bytes ?></td></tr>
<?cs /each ?>
    </tbody>
  </table>
  <h3 id="backups-h">Backup history</h3>
<?cs if:subcount(Backups) ?>
  <div class="table-wrap"><table class="list backups" aria-labelledby="backups-h">
    <thead><tr><th scope="col">Version</th><th scope="col">Stored</th><th scope="col" class="num">Size</th><th scope="col">Checksum</th><th scope="col">Actions</th></tr></thead>
    <tbody>
<?cs each:b = Backups ?>
    <tr><td><?cs var:b.version ?><?cs if:b.pinned ?> <span class="pill">Pinned</span><?cs /if ?></td><td data-label="Stored"><?cs call:when(b.created) ?></td><td data-label="Size" class="num"><?cs var:b.size ?></td><td data-label="Checksum"><code><?cs var:b.checksum ?>…</code></td>
      <td class="actions"><form method="post" action="/usage/backups/delete"><?cs call:csrf() ?><input type="hidden" name="backup_id" value="<?cs var:b.id ?>"><button class="danger small" type="submit">Delete<span class="visually-hidden"> backup <?cs var:b.version ?></span></button></form></td></tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Storage.more_backups ?><p class="hint">And <?cs var:Storage.more_backups ?> older versions (GET /api/v1/backup/history lists them all).</p><?cs /if ?>
<?cs else ?>
  <p class="empty">No backups yet.</p>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="chart-h">
  <h2 id="chart-h">Per day</h2>
  <nav class="metric-tabs" aria-label="Metric shown">
    <ul>
<?cs each:c = Chart.Metrics ?>
      <li><a href="/usage?period=<?cs var:url_escape(Usage.period) ?>&amp;metric=<?cs var:url_escape(c.id) ?>"<?cs if:c.selected ?> aria-current="true"<?cs /if ?>><?cs var:c.label ?></a></li>
<?cs /each ?>
    </ul>
  </nav>
<?cs if:Chart.drawn ?>
  <figure class="chart">
    <svg viewBox="0 0 <?cs var:Chart.w ?> <?cs var:Chart.h ?>" width="100%" role="img" aria-labelledby="chart-title" aria-describedby="chart-desc" focusable="false">
      <title id="chart-title"><?cs var:Chart.title ?></title>
      <desc id="chart-desc"><?cs var:Chart.desc ?></desc>
      <g class="chart-grid">
<?cs each:y = Chart.Y ?>
        <line x1="<?cs var:Chart.left ?>" x2="<?cs var:Chart.right ?>" y1="<?cs var:y.y ?>" y2="<?cs var:y.y ?>"/>
        <text x="<?cs var:Chart.label_x ?>" y="<?cs var:y.ty ?>" text-anchor="end"><?cs var:y.label ?></text>
<?cs /each ?>
      </g>
      <g class="chart-bars">
<?cs each:b = Chart.Bars ?>
        <rect x="<?cs var:b.x ?>" y="<?cs var:b.y ?>" width="<?cs var:b.w ?>" height="<?cs var:b.h ?>"><title><?cs var:b.label ?></title></rect>
<?cs /each ?>
      </g>
      <g class="chart-axis">
        <line x1="<?cs var:Chart.left ?>" x2="<?cs var:Chart.right ?>" y1="<?cs var:Chart.bottom ?>" y2="<?cs var:Chart.bottom ?>"/>
<?cs each:x = Chart.X ?>
        <line x1="<?cs var:x.x ?>" x2="<?cs var:x.x ?>" y1="<?cs var:Chart.bottom ?>" y2="<?cs var:Chart.label_y ?>" class="chart-tick"/>
        <text x="<?cs var:x.x ?>" y="<?cs var:Chart.label_y ?>" text-anchor="middle"><?cs var:x.label ?></text>
<?cs /each ?>
      </g>
    </svg>
    <figcaption><?cs var:Chart.title ?>: <?cs var:Chart.total ?> in this period.</figcaption>
  </figure>
  <details class="chart-data">
    <summary>The same data as a table</summary>
    <table class="compact">
      <caption><?cs var:Chart.title ?></caption>
      <thead><tr><th scope="col">Day</th><th scope="col" class="num"><?cs var:Chart.metric_label ?></th><?cs if:Chart.has_cost ?><th scope="col" class="num">Cost</th><?cs /if ?></tr></thead>
      <tbody>
<?cs each:p = Chart.Points ?>
        <tr><th scope="row"><?cs var:p.day ?></th><td class="num"><?cs var:p.value ?></td><?cs if:Chart.has_cost ?><td class="num"><?cs var:p.cost ?></td><?cs /if ?></tr>
<?cs /each ?>
      </tbody>
    </table>
  </details>
<?cs else ?>
  <p class="empty">No usage in this period yet.</p>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="usage-agents-h">
  <h2 id="usage-agents-h">Agents</h2>
<?cs if:subcount(UsageAgents) ?>
  <div class="table-wrap"><table class="list usage-agents">
    <thead><tr><th scope="col">Agent</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Runs</th><th scope="col" class="num">Cost</th><th scope="col">Budget</th><th scope="col">Budget status</th></tr></thead>
    <tbody>
<?cs each:a = UsageAgents ?>
    <tr<?cs if:!a.active ?> class="revoked"<?cs /if ?>>
      <td><?cs var:a.name ?><?cs if:!a.active ?> <span class="pill pill-deactivated">Deactivated</span><?cs /if ?></td>
      <td data-label="Tokens" class="num"><?cs var:a.tokens ?></td>
      <td data-label="Runs" class="num"><?cs var:a.executions ?></td>
      <td data-label="Cost" class="num"><?cs var:a.cost ?></td>
      <td data-label="Budget"><?cs if:a.budget ?><span><?cs var:a.budget ?> <span class="muted small"><?cs var:a.action_label ?></span></span><?cs else ?><span class="muted">None</span><?cs /if ?></td>
      <td data-label="Budget status"><span><span class="pill pill-budget-<?cs var:a.status ?>"><?cs var:a.status_label ?></span><?cs if:a.percent ?> <span class="muted small"><?cs var:a.percent ?></span><?cs /if ?></span></td>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <p class="muted"><a href="/agents">Agents and their budgets</a></p>
<?cs else ?>
  <p class="empty">No agents yet: <a href="/agents">add one</a>, and its usage shows here.</p>
<?cs /if ?>
</section>
<div class="grid usage-by">
  <section class="card" aria-labelledby="providers-h">
    <h2 id="providers-h">Cost per provider</h2>
<?cs if:subcount(UsageProviders) ?>
    <table class="compact">
      <thead><tr><th scope="col">Provider</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Share</th></tr></thead>
      <tbody>
<?cs each:p = UsageProviders ?>
      <tr><th scope="row"><?cs var:p.provider ?></th><td class="num"><?cs var:p.value ?></td><td class="num"><?cs var:p.cost ?></td><td class="num"><?cs var:p.share ?></td></tr>
<?cs /each ?>
      </tbody>
    </table>
<?cs else ?>
    <p class="empty">No LLM usage in this period yet.</p>
<?cs /if ?>
  </section>
  <section class="card" aria-labelledby="models-h">
    <h2 id="models-h">Cost per model</h2>
<?cs if:subcount(UsageModels) ?>
    <table class="compact">
      <thead><tr><th scope="col">Model</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th></tr></thead>
      <tbody>
<?cs each:p = UsageModels ?>
      <tr><th scope="row"><?cs var:p.name ?> <span class="muted small"><?cs var:p.provider ?></span></th><td class="num"><?cs var:p.value ?></td><td class="num"><?cs var:p.cost ?></td></tr>
<?cs /each ?>
      </tbody>
    </table>
<?cs else ?>
    <p class="empty">No LLM usage in this period yet.</p>
<?cs /if ?>
  </section>
  <section class="card" aria-labelledby="channels-h">
    <h2 id="channels-h">Messages per channel</h2>
<?cs if:subcount(UsageChannels) ?>
    <table class="compact">
      <thead><tr><th scope="col">Channel</th><th scope="col" class="num">Messages</th></tr></thead>
      <tbody>
<?cs each:p = UsageChannels ?>
      <tr><th scope="row"><code><?cs var:p.name ?></code></th><td class="num"><?cs var:p.value ?></td></tr>
<?cs /each ?>
      </tbody>
    </table>
<?cs else ?>
    <p class="empty">No messages in this period yet.</p>
<?cs /if ?>
  </section>
</div>
<section class="card" aria-labelledby="gateway-h">
  <h2 id="gateway-h">LLM gateway calls</h2>
<?cs if:subcount(Gateway) ?>
  <div class="table-wrap"><table class="list gateway">
    <thead><tr><th scope="col">Model</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Median time</th></tr></thead>
    <tbody>
<?cs each:c = Gateway ?>
    <tr><td><?cs var:c.model ?> <span class="muted small"><?cs var:c.provider ?></span></td><td data-label="Calls" class="num"><?cs var:c.calls ?><?cs if:c.failed ?> <span class="muted small">(<?cs var:c.failed ?> failed)</span><?cs /if ?></td><td data-label="Tokens" class="num"><?cs var:c.tokens ?></td><td data-label="Cost" class="num"><?cs var:c.cost ?></td><td data-label="Median time" class="num"><?cs var:c.latency ?></td></tr>
<?cs /each ?>
    </tbody>
  </table></div>
<?cs else ?>
  <p class="empty">No calls through the gateway in this period (<code>POST /api/v1/llm/chat/completions</code>).</p>
<?cs /if ?>
</section>
<section class="card" aria-labelledby="alerts-h">
  <h2 id="alerts-h">Alerts</h2>
<?cs if:subcount(UsageAlerts) ?>
  <ul class="alerts">
<?cs each:a = UsageAlerts ?>
    <li><span class="pill <?cs if:a.over ?>pill-budget-exceeded<?cs else ?>pill-budget-warning<?cs /if ?>"><?cs var:a.threshold ?></span> <strong><?cs var:a.what ?></strong> <span class="muted"><?cs var:a.detail ?> · <?cs call:when(a.at) ?></span></li>
<?cs /each ?>
  </ul>
<?cs else ?>
  <p class="empty">No quota or budget reached 80&nbsp;% in this period.</p>
<?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
