// A program as an agent writes it against the `shop` API (see `isobox types --grant shop`): several calls chained,
// filtered and joined in code, and only the small answer returned to the model.
// Run it with: isobox run --grant shop examples/agent.js
const since = input?.since ?? "2026-01-01";
const orders = await shop.listOrders({ status: "delivered", since });
console.log(`${orders.length} delivered orders since ${since}`);

const spent = new Map();
for (const order of orders) spent.set(order.customerId, (spent.get(order.customerId) ?? 0) + order.total);

const top = [...spent].sort((a, b) => b[1] - a[1]).slice(0, 3);
const customers = await Promise.all(top.map(([id]) => shop.getCustomer(id)));
const products = new Map((await shop.listProducts()).map((product) => [product.sku, product.name]));

return top.map(([id, total], i) => {
  const favourite = orders
    .filter((order) => order.customerId === id)
    .flatMap((order) => order.lines)
    .sort((a, b) => b.quantity * b.unitPrice - a.quantity * a.unitPrice)[0];
  return {
    customer: customers[i].name,
    tier: customers[i].tier,
    spent: Math.round(total * 100) / 100,
    favourite: products.get(favourite.sku),
  };
});
