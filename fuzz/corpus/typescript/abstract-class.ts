abstract class Shape { abstract area(): number; protected readonly name: string = "s"; }
class Sq extends Shape implements Object { area(): number { return 1 } }
return new Sq().area();