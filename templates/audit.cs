<?cs include:"header.cs" ?>
<h1>Audit log</h1>
<section class="card">
  <form class="stack" method="get" action="/audit">
    <div class="grid">
      <div class="field"><label for="f-action">Action</label><input id="f-action" name="action" value="<?cs var:Filter.action ?>" placeholder="member.invited"></div>
      <div class="field"><label for="f-actor">Actor (e-mail)</label><input id="f-actor" name="actor" value="<?cs var:Filter.actor ?>"></div>
      <div class="field"><label for="f-from">From (RFC 3339)</label><input id="f-from" name="from" value="<?cs var:Filter.from ?>" placeholder="2026-01-01T00:00:00Z"></div>
      <div class="field"><label for="f-to">To (RFC 3339)</label><input id="f-to" name="to" value="<?cs var:Filter.to ?>"></div>
    </div>
    <div class="actions"><button class="secondary" type="submit">Filter</button> <a href="/audit">Clear</a></div>
  </form>
</section>
<section class="card">
  <?cs if:subcount(Audit) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Address</th><th scope="col">Details</th></tr></thead>
    <tbody>
<?cs each:e = Audit ?>
    <tr><td><?cs call:when(e.at) ?></td><td><?cs var:e.actor ?></td><td><?cs var:e.action ?></td><td><?cs var:e.target ?></td><td><?cs var:e.ip ?></td><td><?cs var:e.details ?></td></tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Page.next ?><p><a class="button" href="/audit?<?cs var:Page.next_query ?>">Older events</a></p><?cs /if ?>
  <?cs else ?><p class="empty">No events match.</p><?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
