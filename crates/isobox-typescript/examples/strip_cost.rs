//! What erasing types costs per program: a typical 2 KB agent program in TypeScript, median of many runs.
//!
//!     cargo run --release -p isobox-typescript --example strip_cost

use std::time::Instant;

const PROGRAM: &str = r#"```ts
type Status = "pending" | "paid" | "shipped" | "delivered" | "cancelled" | "refunded";
type Line = { sku: string; quantity: number; unitPrice: number };
type Order = { id: number; customerId: number; date: string; status: Status; lines: Line[]; total: number };
interface Summary {
  customer: string;
  orders: number;
  spent: number;
  favourite: string | null;
}

const since: string = (input as { since?: string } | undefined)?.since ?? "2026-01-01";
const delivered: Order[] = await shop.listOrders({ status: "delivered", since });
console.log(`${delivered.length} delivered orders since ${since}`);

const byCustomer = new Map<number, Order[]>();
for (const order of delivered) {
  const list: Order[] = byCustomer.get(order.customerId) ?? [];
  list.push(order);
  byCustomer.set(order.customerId, list);
}

function favourite(orders: Order[]): string | null {
  const counts: Record<string, number> = {};
  for (const order of orders) {
    for (const line of order.lines as Line[]) {
      counts[line.sku] = (counts[line.sku] ?? 0) + line.quantity;
    }
  }
  const ranked = Object.entries(counts).sort(([, a]: [string, number], [, b]: [string, number]) => b - a);
  return ranked.length > 0 ? ranked[0]![0] : null;
}

const top: [number, Order[]][] = [...byCustomer.entries()]
  .sort(([, a], [, b]) => b.reduce((s: number, o: Order) => s + o.total, 0) - a.reduce((s, o) => s + o.total, 0))
  .slice(0, 3);

const summaries: Summary[] = [];
for (const [customerId, orders] of top) {
  const customer = await shop.getCustomer(customerId);
  const spent: number = orders.reduce((sum: number, order: Order): number => sum + order.total, 0);
  summaries.push({
    customer: customer?.name ?? `customer ${customerId}`,
    orders: orders.length,
    spent: Math.round(spent * 100) / 100,
    favourite: favourite(orders),
  } satisfies Summary);
}
return summaries;
```"#;

fn main() {
    let runs = 2000;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let javascript = isobox_typescript::to_javascript(PROGRAM).expect("the program is erasable TypeScript");
            std::hint::black_box(javascript);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{} bytes: median {:.0} µs, p90 {:.0} µs over {runs} runs",
        PROGRAM.len(),
        times[runs / 2],
        times[runs * 9 / 10]
    );
}
