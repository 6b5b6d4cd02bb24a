o1
