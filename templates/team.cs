<?cs include:"header.cs" ?>
<h1>Team</h1>
<p class="lead"><?cs var:Tenant.members_text ?><?cs if:Tenant.seat_limit ?>, <?cs var:Tenant.seat_limit ?> seats on the <?cs var:Tenant.plan_name ?> plan<?cs /if ?>.</p>
<?cs if:Invite.link ?>
<section class="card">
  <h2>Invitation link for <?cs var:Reveal.about ?></h2>
  <p><?cs if:Page.mail ?>It was e-mailed to them. Here it is too, if you would rather send it yourself:<?cs else ?>E-mail is not set up here: send them this link yourself.<?cs /if ?> It is shown only now and works for 7 days.</p>
  <div class="secret"><?cs var:Invite.link ?></div>
</section>
<?cs /if ?>
<section class="card">
  <h2>Members</h2>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">E-mail</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Joined</th><?cs if:Page.can_manage ?><th scope="col">Actions</th><?cs /if ?></tr></thead>
    <tbody>
<?cs each:m = Members ?>
    <tr>
      <td><?cs var:m.email ?></td>
      <td data-label="Name"><?cs var:m.name ?></td>
      <td data-label="Role"><span class="pill pill-<?cs var:m.role ?>"><?cs var:m.role_label ?></span></td>
      <td data-label="Joined"><?cs call:when(m.joined) ?></td>
<?cs if:Page.can_manage ?>
      <td class="actions">
<?cs if:m.user_id == Page.sole_owner ?>
        <span class="muted">The only owner</span>
<?cs elif:m.role == "owner" && User.role != "owner" ?>
        <span class="muted">Owners manage owners</span>
<?cs else ?>
        <form class="inline" method="post" action="/team/role">
          <?cs call:csrf() ?>
          <input type="hidden" name="user_id" value="<?cs var:m.user_id ?>">
          <label class="visually-hidden" for="role-<?cs var:m.user_id ?>">Role of <?cs var:m.email ?></label>
          <select id="role-<?cs var:m.user_id ?>" name="role">
            <option value="member"<?cs if:m.role == "member" ?> selected<?cs /if ?>>member</option>
            <option value="admin"<?cs if:m.role == "admin" ?> selected<?cs /if ?>>admin</option>
            <?cs if:User.role == "owner" ?><option value="owner"<?cs if:m.role == "owner" ?> selected<?cs /if ?>>owner</option><?cs /if ?>
          </select>
          <button class="secondary" type="submit">Change role</button>
        </form>
        <form class="inline" method="post" action="/team/remove">
          <?cs call:csrf() ?>
          <input type="hidden" name="user_id" value="<?cs var:m.user_id ?>">
          <button class="danger" type="submit"><?cs if:m.user_id == User.id ?>Leave<?cs else ?>Remove<?cs /if ?></button>
        </form>
<?cs /if ?>
      </td>
<?cs /if ?>
    </tr>
<?cs /each ?>
    </tbody>
  </table></div>
</section>
<?cs if:Page.can_manage ?>
<section class="card">
  <h2>Invite a member</h2>
  <?cs call:form_error() ?>
  <form class="stack" method="post" action="/team/invite" novalidate>
    <?cs call:csrf() ?>
    <?cs call:field("email", "E-mail address", "email", "off") ?>
    <div class="field<?cs if:Form.role.error ?> has-error<?cs /if ?>">
      <label for="f-role">Role</label>
      <select id="f-role" name="role">
        <option value="member"<?cs if:Form.role.value == "member" ?> selected<?cs /if ?>>member (read only)</option>
        <option value="admin"<?cs if:Form.role.value == "admin" ?> selected<?cs /if ?>>admin</option>
        <?cs if:User.role == "owner" ?><option value="owner"<?cs if:Form.role.value == "owner" ?> selected<?cs /if ?>>owner</option><?cs /if ?>
      </select>
      <?cs if:Form.role.error ?><p class="field-error"><?cs var:Form.role.error ?></p><?cs /if ?>
    </div>
    <div class="actions"><button class="primary" type="submit">Send invitation</button></div>
  </form>
</section>
<section class="card">
  <h2>Pending invitations</h2>
  <?cs if:subcount(Invitations) ?>
  <div class="table-wrap"><table class="list">
    <thead><tr><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
    <tbody>
<?cs each:i = Invitations ?>
    <tr><td><?cs var:i.email ?></td><td data-label="Role"><?cs var:i.role_label ?></td><td data-label="Expires"><?cs call:when(i.expires) ?></td>
      <td class="actions"><form class="inline" method="post" action="/team/revoke-invitation"><?cs call:csrf() ?><input type="hidden" name="invitation_id" value="<?cs var:i.id ?>"><button class="danger" type="submit">Revoke</button></form></td></tr>
<?cs /each ?>
    </tbody>
  </table></div>
  <?cs else ?><p class="empty">No pending invitations.</p><?cs /if ?>
</section>
<?cs /if ?>
<?cs include:"footer.cs" ?>
