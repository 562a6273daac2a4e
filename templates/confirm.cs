<?cs include:"header.cs" ?>
<h1><?cs var:Page.title ?></h1>
<section class="card confirm">
  <p><?cs var:Confirm.question ?></p>
  <form class="stack" method="post" action="<?cs var:Confirm.action ?>">
    <?cs call:csrf() ?>
    <input type="hidden" name="<?cs var:Confirm.field ?>" value="<?cs var:Confirm.value ?>">
<?cs each:x = Confirm.Extra ?>
    <input type="hidden" name="<?cs var:x.name ?>" value="<?cs var:x.value ?>">
<?cs /each ?>
    <input type="hidden" name="confirm" value="yes">
    <div class="actions"><button class="<?cs if:Confirm.safe ?>primary<?cs else ?>danger<?cs /if ?>" type="submit"><?cs var:Confirm.button ?></button> <a class="button secondary" href="<?cs var:Confirm.cancel ?>"><?cs if:Confirm.back ?><?cs var:Confirm.back ?><?cs else ?>Cancel<?cs /if ?></a></div>
  </form>
</section>
<?cs include:"footer.cs" ?>
