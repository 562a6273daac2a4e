</main>
<footer class="foot">Tollgate <?cs var:Page.version ?></footer>
</body>
</html>
