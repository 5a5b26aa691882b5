// Good: chains shop calls, joins in code, returns a small answer.
const orders = await shop.listOrders({ status: "delivered", since: "2026-01-01" });
const totals = new Map<number, number>();
for (const order of orders) totals.set(order.customerId, (totals.get(order.customerId) ?? 0) + order.total);
const ranked = [...totals].sort((a, b) => b[1] - a[1]).slice(0, 3);
const top = [];
for (const [id, total] of ranked) {
  const customer = await shop.getCustomer(id);
  if (customer) top.push({ name: customer.name, tier: customer.tier, total });
}
return top;
