<?cs include:"header.cs" ?>
<?cs # /billing (page-billing.c): the banners (billing not configured,
     test mode), Stripe Checkout's way back (?checkout=...), the plan in
     use with its status, dates and the owner's actions, the paid plans
     as cards (plan-cards.cs) and the invoices. ?>
<h1>Billing</h1>
<?cs if:Billing.unconfigured ?><div class="banner banner-off" role="status"><p><strong>Billing is not configured on this server:</strong> every organization is on the Free plan.</p></div><?cs /if ?>
<?cs if:Billing.test_mode ?><div class="banner banner-test" role="status"><p><strong>Test mode:</strong> no real payments. Stripe takes test cards only, and nothing is charged.</p></div><?cs /if ?>
<?cs if:Billing.checkout_success ?><div class="flash notice" role="status">Payment received — your plan changes as soon as Stripe confirms it.</div><?cs /if ?>
<?cs if:Billing.checkout_canceled ?><div class="flash notice" role="status">Checkout canceled; nothing was charged.</div><?cs /if ?>
<?cs call:form_error() ?>
<section class="card billing-plan" aria-labelledby="billing-plan-h">
  <h2 id="billing-plan-h">Your plan</h2>
  <p class="plan-now"><span class="plan-name"><?cs var:Billing.plan_name ?></span> <span class="pill pill-<?cs var:Billing.status ?>"><?cs var:Billing.status_label ?></span></p>
  <dl class="facts">
    <?cs if:Billing.price ?><dt>Price</dt><dd><?cs var:Billing.price ?></dd><?cs /if ?>
    <?cs if:Billing.trial_end ?><dt>Trial</dt><dd>Trial ends <time datetime="<?cs var:Billing.trial_end_iso ?>"><?cs var:Billing.trial_end ?></time></dd><?cs /if ?>
    <?cs if:Billing.cancels ?><dt>Ends</dt><dd>Cancels on <time datetime="<?cs var:Billing.cancels_iso ?>"><?cs var:Billing.cancels ?></time></dd>
    <?cs elif:Billing.renews ?><dt>Renewal</dt><dd><?cs var:Billing.renews_label ?> <time datetime="<?cs var:Billing.renews_iso ?>"><?cs var:Billing.renews ?></time></dd><?cs /if ?>
    <?cs if:Billing.seats_text ?><dt>Seats</dt><dd><?cs var:Billing.seats_text ?></dd><?cs /if ?>
    <?cs if:Billing.storage ?><dt>Cloud storage</dt><dd><?cs var:Billing.storage ?></dd><dt>Backups</dt><dd><?cs var:Billing.backups ?> <a class="small" href="/usage#storage-h">details</a></dd><?cs /if ?>
  </dl>
  <?cs if:Billing.warning ?><p class="warning"><?cs var:Billing.warning ?></p><?cs /if ?>
  <?cs if:Billing.note ?><p class="muted"><?cs var:Billing.note ?></p><?cs /if ?>
<?cs if:Billing.can_manage || Billing.can_cancel ?>
  <div class="actions">
<?cs if:Billing.can_manage ?>
    <form class="inline" method="post" action="/billing/portal"><?cs call:csrf() ?><button class="secondary" type="submit">Manage billing</button></form>
<?cs /if ?>
<?cs if:Billing.can_cancel ?>
    <form class="inline" method="post" action="/billing/cancel"><?cs call:csrf() ?><button class="danger" type="submit">Cancel subscription</button></form>
<?cs /if ?>
  </div>
  <?cs if:Billing.can_manage ?><p class="hint">Manage billing opens Stripe's page for the payment method, the billing address and past receipts.</p><?cs /if ?>
<?cs /if ?>
  <?cs if:!Billing.owner ?><p class="muted">Only an owner can change the plan or the payment details.</p><?cs /if ?>
</section>
<h2 class="section-title">Plans</h2>
<?cs include:"plan-cards.cs" ?>
<p class="muted">Everything each plan includes, side by side: <a href="/pricing">Pricing</a>.</p>
<section class="card" aria-labelledby="invoices-h">
  <h2 id="invoices-h">Invoices</h2>
<?cs if:Billing.invoices_hidden ?>
  <p class="muted">Invoices are shown to owners and admins.</p>
<?cs elif:subcount(Invoices) ?>
  <div class="table-wrap"><table class="list invoices">
    <thead><tr><th scope="col">Invoice</th><th scope="col">Date</th><th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col">Links</th></tr></thead>
    <tbody>
<?cs each:i = Invoices ?>
    <tr>
      <td><?cs if:i.number ?><?cs var:i.number ?><?cs else ?><span class="muted">No number yet</span><?cs /if ?></td>
      <td data-label="Date"><time datetime="<?cs var:i.date_iso ?>"><?cs var:i.date ?></time></td>
      <td data-label="Status"><span class="pill pill-<?cs var:i.status ?>"><?cs var:i.status_label ?></span></td>
      <td data-label="Amount" class="num"><?cs var:i.amount ?></td>
      <td class="actions"><?cs if:i.hosted_url ?><a href="<?cs var:i.hosted_url ?>" target="_blank" rel="noopener">View<span class="visually-hidden"> invoice <?cs var:i.number ?> (opens Stripe)</span></a><?cs /if ?><?cs if:i.pdf_url ?> <a href="<?cs var:i.pdf_url ?>" target="_blank" rel="noopener">PDF<span class="visually-hidden"> of invoice <?cs var:i.number ?></span></a><?cs /if ?></td>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs if:Billing.invoices_more ?><p class="muted">The latest invoices are shown; older ones are in Manage billing.</p><?cs /if ?>
<?cs else ?>
  <p class="empty">No invoices yet.</p>
<?cs /if ?>
</section>
<?cs include:"footer.cs" ?>
