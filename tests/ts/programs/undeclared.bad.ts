// Bad: a capability that was not granted does not exist.
return await http.fetch("https://example.com");
