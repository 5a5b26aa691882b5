// Bad: orders have no `amount`, and the status is not one of the enum's cases.
const orders = await shop.listOrders({ status: "lost" });
return orders.map((order) => order.amount);
