<?cs # The plan cards of /pricing and /billing (page-billing.c fills
     Plans.N): price, trial and included quotas, then what the visitor
     may do about the plan: nothing (the plan in use says "Current
     plan"), follow a link (sign up, or an owner on /pricing to
     /billing), or, an owner on /billing, the form that posts to
     /billing/checkout with seats (per-seat plans) and a coupon (a
     checkout).  A refused form (p.failed) shows its errors and what
     was entered in its own card. ?>
<div class="plans">
<?cs each:p = Plans ?>
  <section class="card plan<?cs if:p.current ?> current<?cs /if ?>" id="plan-<?cs var:p.id ?>" aria-labelledby="plan-<?cs var:p.id ?>-name">
    <h2 id="plan-<?cs var:p.id ?>-name"><?cs var:p.name ?></h2>
    <p class="price"><strong><?cs var:p.price ?></strong> <span class="muted"><?cs var:p.per ?></span></p>
    <?cs if:p.trial ?><p class="muted"><?cs var:p.trial ?></p><?cs /if ?>
    <dl class="facts">
    <?cs each:q = p.Quotas ?><dt><?cs var:q.label ?></dt><dd><?cs var:q.value ?></dd><?cs /each ?>
    </dl>
    <?cs if:p.failed && Form.plan.error ?><p class="field-error" role="alert"><?cs var:Form.plan.error ?></p><?cs /if ?>
<?cs if:p.current ?>
    <p class="plan-current"><span class="pill pill-current">Current plan</span></p>
<?cs elif:p.form ?>
    <form class="stack plan-form" method="post" action="/billing/checkout" novalidate>
      <?cs call:csrf() ?>
      <input type="hidden" name="plan" value="<?cs var:p.id ?>">
<?cs if:p.per_seat ?>
      <div class="field<?cs if:p.failed && Form.seats.error ?> has-error<?cs /if ?>">
        <label for="f-seats-<?cs var:p.id ?>">Seats</label>
        <input id="f-seats-<?cs var:p.id ?>" name="seats" type="number" inputmode="numeric" min="<?cs var:p.seats_min ?>" max="1000" value="<?cs if:p.failed && Form.seats.value ?><?cs var:Form.seats.value ?><?cs else ?><?cs var:p.seats ?><?cs /if ?>" aria-describedby="h-seats-<?cs var:p.id ?><?cs if:p.failed && Form.seats.error ?> e-seats-<?cs var:p.id ?><?cs /if ?>"<?cs if:p.failed && Form.seats.error ?> aria-invalid="true"<?cs /if ?>>
        <p class="hint" id="h-seats-<?cs var:p.id ?>">At least <?cs var:p.seats_min ?>: one for each member.</p>
        <?cs if:p.failed && Form.seats.error ?><p class="field-error" id="e-seats-<?cs var:p.id ?>"><?cs var:Form.seats.error ?></p><?cs /if ?>
      </div>
<?cs /if ?>
<?cs if:p.coupon ?>
      <div class="field<?cs if:p.failed && Form.coupon.error ?> has-error<?cs /if ?>">
        <label for="f-coupon-<?cs var:p.id ?>">Coupon <span class="muted">(optional)</span></label>
        <input id="f-coupon-<?cs var:p.id ?>" name="coupon" type="text" maxlength="100" autocomplete="off" spellcheck="false" value="<?cs if:p.failed ?><?cs var:Form.coupon.value ?><?cs /if ?>"<?cs if:p.failed && Form.coupon.error ?> aria-invalid="true" aria-describedby="e-coupon-<?cs var:p.id ?>"<?cs /if ?>>
        <?cs if:p.failed && Form.coupon.error ?><p class="field-error" id="e-coupon-<?cs var:p.id ?>"><?cs var:Form.coupon.error ?></p><?cs /if ?>
      </div>
<?cs /if ?>
      <div class="actions"><button class="primary" type="submit"><?cs var:p.action ?></button></div>
    </form>
<?cs elif:p.href ?>
    <p class="plan-action"><a class="button<?cs if:p.primary ?> primary<?cs /if ?>" href="<?cs var:p.href ?>"><?cs var:p.action ?></a></p>
<?cs /if ?>
  </section>
<?cs /each ?>
</div>
