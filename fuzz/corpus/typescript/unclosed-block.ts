if (input) {
  return 1;