<?cs # A quota's meter (page-usage.c, UsageMeters.N), on /usage and the
     dashboard: the words say it all (used, of what, the share); the bar
     beside them is drawn in SVG (its widths are attributes, which the
     Content-Security-Policy allows where inline styles are not), with
     the 80 % and 100 % marks at their place on a track that reaches
     120 % of the included amount or what was used. ?>
<?cs def:meter(m) ?>
<div class="meter meter-<?cs var:m.state ?>">
  <p class="meter-head"><span class="meter-label"><?cs var:m.label ?></span>
    <span class="meter-value"><?cs if:m.unlimited ?><?cs var:m.used ?> used <span class="muted">· unlimited</span><?cs else ?><?cs var:m.used ?> <span class="muted">of <?cs var:m.included ?></span><?cs if:m.percent ?> <strong class="meter-pct"><?cs var:m.percent ?></strong><?cs /if ?><?cs /if ?></span></p>
<?cs if:m.fill ?>
  <svg class="meter-bar" width="100%" height="30" aria-hidden="true" focusable="false">
    <rect class="meter-track" x="0" y="2" width="100%" height="12" rx="6"/>
    <rect class="meter-fill" x="0" y="2" width="<?cs var:m.fill ?>" height="12" rx="6"/>
    <line class="meter-mark" x1="<?cs var:m.m80 ?>" x2="<?cs var:m.m80 ?>" y1="0" y2="16"/>
    <line class="meter-mark meter-mark-full" x1="<?cs var:m.m100 ?>" x2="<?cs var:m.m100 ?>" y1="0" y2="16"/>
    <?cs if:m.tick80 ?><text class="meter-tick" x="<?cs var:m.m80 ?>" y="28" text-anchor="middle">80%</text><?cs /if ?>
    <text class="meter-tick" x="<?cs var:m.m100 ?>" y="28" text-anchor="middle">100%</text>
  </svg>
<?cs /if ?>
</div>
<?cs /def ?>
