<?cs # Form helpers: a labelled field that keeps its value and shows its
     error beside it, and the hidden CSRF token every form carries. ?>
<?cs def:field(name, label, type, autocomplete) ?>
<div class="field<?cs if:Form[name].error ?> has-error<?cs /if ?>">
  <label for="f-<?cs var:name ?>"><?cs var:label ?></label>
  <input id="f-<?cs var:name ?>" name="<?cs var:name ?>" type="<?cs var:type ?>" value="<?cs var:Form[name].value ?>" autocomplete="<?cs var:autocomplete ?>"<?cs if:Form[name].error ?> aria-invalid="true" aria-describedby="e-<?cs var:name ?>"<?cs /if ?>>
<?cs if:Form[name].error ?>
  <p class="field-error" id="e-<?cs var:name ?>"><?cs var:Form[name].error ?></p>
<?cs /if ?>
</div>
<?cs /def ?>
<?cs # A time through the formatting layer (page_row_time): relative,
     the exact date on hover, the RFC 3339 value for machines. ?>
<?cs def:when(t) ?><time datetime="<?cs var:t.iso ?>" title="<?cs var:t.date ?>"><?cs var:t.ago ?></time><?cs /def ?>
<?cs # A name to read with its id on hover (audit actors and targets). ?>
<?cs def:named(name, id) ?><?cs if:name ?><span title="<?cs var:id ?>"><?cs var:name ?></span><?cs else ?><?cs var:id ?><?cs /if ?><?cs /def ?>
<?cs def:csrf() ?><input type="hidden" name="csrf" value="<?cs var:Page.csrf ?>"><?cs /def ?>
<?cs def:form_error() ?><?cs if:Form.error ?><div class="flash error" role="alert"><?cs var:Form.error ?></div><?cs /if ?><?cs /def ?>
