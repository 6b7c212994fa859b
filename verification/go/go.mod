module victimpool/verification/pooldiff

go 1.13
