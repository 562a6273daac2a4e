<?cs include:"header.cs" ?>
<h1><?cs var:Page.title ?></h1>
<section class="card confirm">
  <p><?cs var:Confirm.question ?></p>
  <form class="stack" method="post" action="<?cs var:Confirm.action ?>">
    <?cs call:csrf() ?>
    <input type="hidden" name="<?cs var:Confirm.field ?>" value="<?cs var:Confirm.value ?>">
    <input type="hidden" name="confirm" value="yes">
    <div class="actions"><button class="danger" type="submit"><?cs var:Confirm.button ?></button> <a class="button secondary" href="<?cs var:Confirm.cancel ?>">Cancel</a></div>
  </form>
</section>
<?cs include:"footer.cs" ?>
