// Bad: headers are [name, value] pairs, not an object.
return await http.fetch("https://api.example.com/", { headers: { accept: "application/json" } });
