// Bad: getCustomer takes a number.
const customer = await shop.getCustomer("42");
return customer;
