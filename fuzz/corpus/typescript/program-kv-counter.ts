// Good: state in kv across requests.
const visits = await kv.increment("visits", 1);
const last: string | null = await kv.get("last-visitor");
await kv.set("last-visitor", JSON.stringify({ at: new Date(0).toISOString() }));
const keys: string[] = await kv.list("last-");
return { visits, last, keys };
