// Bad: a capability that does not exist (or was not granted) is not declared.
return await secrets.get("token");
