// A program as an agent would write it: the body of an async function, given `input`, returning a small answer.
// Run it with: isobox run examples/agent.js --input "$(cat examples/orders.json)"
const { orders, since } = input;
console.log(`received ${orders.length} orders`);

const recent = orders.filter((order) => order.date >= since);
const byCustomer = new Map();
for (const order of recent) {
  const total = order.items.reduce((sum, item) => sum + item.price * item.quantity, 0);
  byCustomer.set(order.customer, (byCustomer.get(order.customer) ?? 0) + total);
}
if (byCustomer.size === 0) console.warn(`no orders since ${since}`);

// Pretend to look each customer up asynchronously, as a capability call would.
const ranked = await Promise.all(
  [...byCustomer].map(async ([customer, total]) => ({ customer, total: Math.round(total * 100) / 100 })),
);
ranked.sort((a, b) => b.total - a.total);

console.info(`top customer: ${ranked[0]?.customer}`);
return { since, customers: ranked.length, top3: ranked.slice(0, 3) };
