// Good: an HTTP call with options, its JSON body parsed.
const response = await http.fetch("https://api.example.com/rates", {
  method: "POST",
  headers: [["content-type", "application/json"]],
  body: JSON.stringify({ base: "EUR" }),
});
if (response.status !== 200) throw new Error(`status ${response.status}`);
const type = response.headers.find(([name]) => name === "content-type")?.[1];
return { type, rates: JSON.parse(response.body) as Record<string, number> };
