<?cs include:"header.cs" ?>
<h1>Audit log</h1>
<section class="card">
  <form class="filters" method="get" action="/audit" novalidate>
    <div class="field<?cs if:Filter.action_error ?> has-error<?cs /if ?>"><label for="f-action">Action</label>
      <select id="f-action" name="action"><option value="">Any action</option><?cs each:a = Actions ?><option value="<?cs var:a.name ?>"<?cs if:a.name == Filter.action ?> selected<?cs /if ?>><?cs var:a.name ?></option><?cs /each ?></select>
      <?cs if:Filter.action_error ?><p class="field-error"><?cs var:Filter.action_error ?></p><?cs /if ?></div>
    <div class="field<?cs if:Filter.actor_error ?> has-error<?cs /if ?>"><label for="f-actor">Who</label><input id="f-actor" name="actor" value="<?cs var:Filter.actor ?>" autocomplete="off">
      <?cs if:Filter.actor_error ?><p class="field-error"><?cs var:Filter.actor_error ?></p><?cs /if ?></div>
    <div class="field<?cs if:Filter.from_error ?> has-error<?cs /if ?>"><label for="f-from">From</label><input id="f-from" name="from" type="date" value="<?cs var:Filter.from ?>"<?cs if:Filter.from_error ?> aria-invalid="true" aria-describedby="e-from"<?cs /if ?>>
      <?cs if:Filter.from_error ?><p class="field-error" id="e-from"><?cs var:Filter.from_error ?></p><?cs /if ?></div>
    <div class="field<?cs if:Filter.to_error ?> has-error<?cs /if ?>"><label for="f-to">To (inclusive)</label><input id="f-to" name="to" type="date" value="<?cs var:Filter.to ?>"<?cs if:Filter.to_error ?> aria-invalid="true" aria-describedby="e-to"<?cs /if ?>>
      <?cs if:Filter.to_error ?><p class="field-error" id="e-to"><?cs var:Filter.to_error ?></p><?cs /if ?></div>
    <div class="actions"><button class="secondary" type="submit">Filter</button> <a href="/audit">Clear</a></div>
  </form>
</section>
<section class="card">
  <?cs if:subcount(Audit) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Address</th><th scope="col">Details</th></tr></thead>
    <tbody>
<?cs each:e = Audit ?>
    <tr><td><?cs call:when(e.at) ?></td><td data-label="Who"><?cs call:named(e.actor_name, e.actor) ?></td><td data-label="What"><?cs var:e.action ?></td><td data-label="Target"><?cs call:named(e.target_name, e.target) ?></td><td data-label="Address"><?cs var:e.ip ?></td><td data-label="Details"><?cs var:e.details ?></td></tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Page.next ?><p><a class="button" href="/audit?<?cs var:Page.next_query ?>">Older events</a></p><?cs /if ?>
  <?cs else ?><p class="empty">No events match.</p><?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
