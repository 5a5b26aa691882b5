// Good: a workspace in a granted directory.
await files.mkdir("reports/2026");
const csv: string = await files.read("data/sales.csv");
const total = csv.trim().split("\n").slice(1).reduce((sum, row) => sum + Number(row.split(",")[1]), 0);
await files.write("reports/2026/total.txt", String(total));
await files.append("reports/log.txt", `total ${total}\n`);
const entries: DirEntry[] = await files.list("reports", 100);
const sizes = entries.filter((entry) => entry.kind === "file").map((entry) => entry.size);
const info: FileInfo | null = await files.stat("reports/2026/total.txt");
const head: string = await files.readBytes("data/logo.png", 0, 16);
await files.writeBytes("copy.png", head);
const removed: boolean = await files.remove("reports", true);
return { total, sizes, modified: info?.modifiedMs, removed };
