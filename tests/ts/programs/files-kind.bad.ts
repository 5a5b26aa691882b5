// Bad: an entry's kind is "file", "directory", "symlink" or "other"; writeBytes takes base64 text, not bytes.
const entries = await files.list("");
const folders = entries.filter((entry) => entry.kind === "folder");
await files.writeBytes("raw.bin", new Uint8Array([1, 2, 3]));
return folders;
