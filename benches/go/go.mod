module victimpoolbench

go 1.19
