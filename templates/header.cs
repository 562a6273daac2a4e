<!doctype html>
<?cs # The top of every page: head, navigation for signed-in users, flash.
     The form macros are defined here so every page has them. ?>
<html lang="en">
<head><?cs include:"macros.cs" ?>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><?cs var:Page.title ?> · Tollgate</title>
<link rel="stylesheet" href="/static/tollgate.css?v=<?cs var:Page.version ?>">
</head>
<body class="<?cs if:User.email ?>app<?cs else ?>public<?cs /if ?>">
<a class="visually-hidden" href="#main">Skip to content</a>
<?cs if:User.email ?>
<header class="topbar">
  <a class="brand" href="/dashboard">Tollgate</a>
  <nav class="mainnav" aria-label="Main">
    <ul>
<?cs each:item = Nav ?>
      <li><a href="<?cs var:item.href ?>"<?cs if:item.id == Page.nav ?> class="active" aria-current="page"<?cs /if ?>><?cs var:item.label ?></a></li>
<?cs /each ?>
    </ul>
  </nav>
  <div class="usermenu">
    <span class="tenant"><?cs var:Tenant.name ?></span>
    <span class="pill plan pill-<?cs var:Tenant.plan ?>"><?cs var:Tenant.plan_name ?></span>
    <span class="pill pill-<?cs var:Tenant.status ?>"><?cs var:Tenant.status_label ?></span>
    <span class="user"><?cs var:User.email ?> (<?cs var:User.role ?>)</span>
    <form class="inline" method="post" action="/logout">
      <input type="hidden" name="csrf" value="<?cs var:Page.csrf ?>">
      <button class="linkbutton" type="submit">Sign out</button>
    </form>
  </div>
</header>
<?cs else ?>
<header class="topbar public">
  <a class="brand" href="/">Tollgate</a>
</header>
<?cs /if ?>
<main class="content" id="main">
<?cs if:Flash.notice ?><div class="flash notice" role="status"><?cs var:Flash.notice ?></div><?cs /if ?>
<?cs if:Flash.error ?><div class="flash error" role="alert"><?cs var:Flash.error ?></div><?cs /if ?>
