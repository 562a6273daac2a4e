<!doctype html>
<?cs # The top of every page: head, the app shell (brand, navigation,
     organization and user with sign out) for signed-in users, flash.
     On a phone the navigation and the user area fold behind a "Menu"
     button: a <details> whose open state shows its siblings (CSS
     only, no script).  Items not built yet (Nav.N.soon) are grouped
     apart under "Coming soon".  The form macros are defined here so
     every page has them. ?>
<html lang="en">
<head><?cs include:"macros.cs" ?>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><?cs var:Page.title ?> · Tollgate</title>
<link rel="icon" type="image/svg+xml" href="/static/favicon.svg?v=<?cs var:Page.icon_version ?>">
<link rel="stylesheet" href="/static/tollgate.css?v=<?cs var:Page.css_version ?>">
</head>
<body class="<?cs if:User.email ?>app<?cs else ?>public<?cs /if ?>">
<a class="skip-link" href="#main">Skip to content</a>
<?cs if:User.email ?>
<header class="topbar">
  <a class="brand" href="/dashboard">Tollgate</a>
  <details class="menu-toggle">
    <summary><span class="menu-icon" aria-hidden="true"></span>Menu</summary>
  </details>
  <nav class="mainnav" aria-label="Main">
    <ul class="nav-built">
<?cs each:item = Nav ?><?cs if:!item.soon ?>
      <li><a href="<?cs var:item.href ?>"<?cs if:item.id == Page.nav ?> class="active" aria-current="page"<?cs /if ?>><?cs var:item.label ?></a></li>
<?cs /if ?><?cs /each ?>
<?cs if:Page.any_soon ?>
      <li class="nav-later">
        <details class="soon-menu">
          <summary<?cs if:Page.nav_soon ?> class="active"<?cs /if ?>>Coming soon</summary>
          <ul class="nav-soon">
<?cs each:item = Nav ?><?cs if:item.soon ?>
            <li><a href="<?cs var:item.href ?>"<?cs if:item.id == Page.nav ?> class="active" aria-current="page"<?cs /if ?>><?cs var:item.label ?> <span class="soon-tag">Soon</span></a></li>
<?cs /if ?><?cs /each ?>
          </ul>
        </details>
      </li>
<?cs /if ?>
    </ul>
  </nav>
  <div class="usermenu">
    <div class="who">
      <span class="org"><span class="tenant" title="<?cs var:Tenant.name ?>"><?cs var:Tenant.name ?></span>
        <span class="pill plan pill-<?cs var:Tenant.plan ?>"><?cs var:Tenant.plan_name ?></span><?cs if:Tenant.status != "active" ?>
        <span class="pill pill-<?cs var:Tenant.status ?>"><?cs var:Tenant.status_label ?></span><?cs /if ?></span>
      <span class="user"><span class="email" title="<?cs var:User.email ?>"><?cs var:User.email ?></span> <span class="role"><?cs var:User.role_label ?></span></span>
    </div>
    <form class="signout" method="post" action="/logout">
      <input type="hidden" name="csrf" value="<?cs var:Page.csrf ?>">
      <button class="secondary" type="submit">Sign out</button>
    </form>
  </div>
</header>
<?cs else ?>
<header class="topbar public">
  <a class="brand" href="/">Tollgate</a>
</header>
<?cs /if ?>
<main class="content" id="main" tabindex="-1">
<?cs if:Flash.notice ?><div class="flash notice" role="status"><?cs var:Flash.notice ?></div><?cs /if ?>
<?cs if:Flash.error ?><div class="flash error" role="alert"><?cs var:Flash.error ?></div><?cs /if ?>
