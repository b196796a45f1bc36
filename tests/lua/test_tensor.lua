-- The tensor API from Lua: creation, metadata, indexing (1-based), views, arithmetic,
-- in-place forms, reductions, linear algebra and indexing ops, printing.
local T = ...
tau.manual_seed(1)

local function shape(x) return table.concat(x:size(), ",") end

-- ---------------------------------------------------------------- creation
T.test("tensor from nested tables", function()
  local x = tau.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(x:dtype(), "float32")
  T.eq(shape(x), "2,3")
  T.close(x, {{1, 2, 3}, {4, 5, 6}})
  local y = tau.tensor({{{1}, {2}}, {{3}, {4}}}, "int32")
  T.eq(y:dtype(), "int32")
  T.eq(shape(y), "2,2,1")
  T.eq(y[2][2][1], 4)
  T.eq(math.type(y[1][1][1]), "integer")
  T.eq(tau.tensor{}:numel(), 0)
  T.eq(shape(tau.tensor{}), "0")
  local s = tau.tensor(2.5)
  T.eq(s:dim(), 0)
  T.eq(s:item(), 2.5)
  T.eq(tau.tensor(3, "int32"):dtype(), "int32")
  -- a copy, optionally converting
  local c = tau.tensor(x)
  c[1][1] = 100
  T.eq(x[1][1], 1)
  T.eq(tau.tensor(x, "int"):dtype(), "int32")
  T.eq(tau.tensor({1, 2}, "float"):dtype(), "float32")
end)

T.test("tensor from booleans", function()
  local b = tau.tensor{true, false, true}
  T.eq(b:dtype(), "int32")
  T.close(b, {1, 0, 1})
  local f = tau.tensor({{true, false}}, "float32")
  T.close(f, {{1, 0}})
end)

T.test("tensor errors: ragged, non-numbers, int32 range", function()
  T.raises(function() tau.tensor{{1, 2}, {3}} end, "tau.tensor: ragged nested table: [2] has 1 elements, expected 2")
  T.raises(function() tau.tensor{{1, 2}, 3} end, "tau.tensor: expected a table at [2], got number")
  T.raises(function() tau.tensor{1, {2}} end, "tau.tensor: expected a number at [2], got table")
  T.raises(function() tau.tensor{{1, "x"}} end, "tau.tensor: expected a number at [1][2], got string")
  T.raises(function() tau.tensor({1.5}, "int32") end, "tau.tensor: [1] = 1.5 is not an int32 value")
  T.raises(function() tau.tensor({2^40}, "int32") end, "is not an int32 value")
  T.raises(function() tau.tensor("x") end, "tau.tensor: expected a (nested) table of numbers, got string")
  T.raises(function() tau.tensor({1}, "float64") end, "tau.tensor: unknown dtype 'float64' (float32 or int32)")
  T.raises(function() tau.tensor({1}, 3) end, "tau.tensor: dtype must be a string, got number")
  local deep = {1}
  for _ = 1, 9 do deep = {deep} end
  T.raises(function() tau.tensor(deep) end, "tau.tensor: nesting deeper than 8 levels")
end)

T.test("zeros, ones, full, empty with sizes as arguments or a table", function()
  T.eq(shape(tau.zeros(2, 3)), "2,3")
  T.eq(shape(tau.ones{2, 3}), "2,3")
  T.close(tau.ones(2), {1, 1})
  T.close(tau.zeros{3}, {0, 0, 0})
  T.close(tau.full({2}, 7), {7, 7})
  T.close(tau.full(2, 2, -1.5), {{-1.5, -1.5}, {-1.5, -1.5}})
  T.eq(tau.full({2}, 7, "int32"):dtype(), "int32")
  T.eq(tau.zeros(2, "int32"):dtype(), "int32")
  T.eq(tau.ones({2, 2}, "int32"):dtype(), "int32")
  T.eq(shape(tau.empty(4, 1)), "4,1")
  T.eq(tau.zeros():dim(), 0)
  T.eq(tau.zeros(0, 3):numel(), 0)
end)

T.test("rand, randn, randint, randperm and the seed", function()
  tau.manual_seed(5)
  local a, an, ai = tau.rand(100), tau.randn(10, 10), tau.randint(1, 6, {200})
  tau.manual_seed(5)
  local b, bn, bi = tau.rand(100), tau.randn{10, 10}, tau.randint(1, 6, {200})
  T.ok(a:equal(b) and an:equal(bn) and ai:equal(bi), "same seed, same numbers")
  T.ok(not tau.rand(100):equal(a), "the stream moves on")
  T.ok(a:min():item() >= 0 and a:max():item() < 1)
  T.eq(ai:dtype(), "int32")
  T.eq(ai:min():item(), 1, "randint reaches its lower bound")
  T.eq(ai:max():item(), 6, "randint reaches its upper bound (inclusive)")
  T.eq(shape(tau.randint(0, 1, 2, 3)), "2,3")
  local p = tau.randperm(20)
  T.eq(p:dtype(), "int32")
  local seen = {}
  for i = 1, 20 do seen[p[i]] = (seen[p[i]] or 0) + 1 end
  for v = 1, 20 do T.eq(seen[v], 1, "randperm holds " .. v .. " once") end
  T.eq(tau.randperm(0):numel(), 0)
  -- the state round trip restores the stream exactly, normals included
  local _ = tau.randn(3)
  local st = tau.get_rng_state()
  local x1, y1 = tau.randn(5), tau.rand(2)
  tau.set_rng_state(st)
  T.ok(tau.randn(5):equal(x1) and tau.rand(2):equal(y1))
  T.raises(function() tau.randint(3, 1, {2}) end, "tau.randint: empty range 3..1")
  T.raises(function() tau.randperm(-1) end, "tau.randperm: n must be non-negative, got -1")
  T.raises(function() tau.set_rng_state({0, 0, 0, 0}) end, "the all-zero state is invalid")
end)

T.test("arange is inclusive, like a numeric for", function()
  T.close(tau.arange(1, 5), {1, 2, 3, 4, 5})
  T.eq(tau.arange(1, 5):dtype(), "int32")
  T.close(tau.arange(4), {1, 2, 3, 4})
  T.close(tau.arange(0, 1, 0.25), {0, 0.25, 0.5, 0.75, 1})
  T.eq(tau.arange(0, 1, 0.25):dtype(), "float32")
  T.close(tau.arange(10, 1, -3), {10, 7, 4, 1})
  T.close(tau.arange(1, 2, 0.3), {1, 1.3, 1.6, 1.9})
  T.eq(tau.arange(1, 3, "float32"):dtype(), "float32")
  T.eq(tau.arange(5, 1):numel(), 0)
  -- the same elements as the loop
  local n = 0
  for i = 2, 17, 3 do n = n + 1; T.eq(tau.arange(2, 17, 3)[n], i) end
  T.eq(tau.arange(2, 17, 3):numel(), n)
  T.raises(function() tau.arange(1, 5, 0) end, "tau.arange: step must be non-zero")
  T.raises(function() tau.arange(0, 1/0) end, "tau.arange: too many elements")
end)

T.test("linspace and eye", function()
  T.close(tau.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1})
  T.close(tau.linspace(3, 4, 1), {3})
  T.close(tau.eye(2), {{1, 0}, {0, 1}})
  T.close(tau.eye(2, 3), {{1, 0, 0}, {0, 1, 0}})
  T.raises(function() tau.linspace(0, 1, -2) end, "tau.linspace: negative number of points -2")
  T.raises(function() tau.eye(-1) end, "tau.eye: negative size -1 in dimension 1")
end)

-- ---------------------------------------------------------------- metadata
T.test("size, dim, numel, stride, dtype, type, shape fields", function()
  local x = tau.zeros(2, 3, 4)
  T.eq(shape(x), "2,3,4")
  T.eq(x:size(1), 2)
  T.eq(x:size(-1), 4)
  T.eq(x:dim(), 3)
  T.eq(x.ndim, 3)
  T.eq(table.concat(x.shape, ","), "2,3,4")
  T.eq(x:numel(), 24)
  T.eq(x:nelement(), 24)
  T.eq(table.concat(x:stride(), ","), "12,4,1")
  T.eq(x:stride(2), 4)
  T.eq(x:dtype(), "float32")
  T.eq(x:type(), "float32")
  T.eq(x:type("int32"):dtype(), "int32")
  T.ok(x:is_contiguous())
  T.ok(not x:transpose(1, 3):is_contiguous())
  T.eq(#x, 2)
  T.eq(#tau.zeros(5), 5)
  T.ok(tau.is_tensor(x) and not tau.is_tensor({}) and not tau.is_tensor(nil))
  T.eq(x.no_such_field, nil)
end)

T.test("item and totable", function()
  T.eq(tau.tensor{{7}}:item(), 7)
  T.eq(tau.tensor(3, "int32"):item(), 3)
  T.eq(math.type(tau.tensor(3, "int32"):item()), "integer")
  T.raises(function() tau.zeros(2):item() end,
           "Tensor:item: only a tensor with one element can be converted to a number, got size [2]")
  local t = tau.tensor{{1, 2}, {3, 4}}:t():totable()
  T.eq(#t, 2)
  T.eq(t[1][2], 3)
  T.eq(t[2][1], 2)
  T.eq(tau.tensor(5):totable(), 5)
  T.eq(#tau.zeros(0):totable(), 0)
end)

T.test("tostring of small, int, 0-dim, empty and autograd tensors", function()
  T.eq(tostring(tau.tensor{{1, 2}, {3, 4}}),
       "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], size [2, 2], float32)")
  T.eq(tostring(tau.tensor({1, -20, 3}, "int32")), "tensor([  1, -20,   3], size [3], int32)")
  T.eq(tostring(tau.tensor(3.5)), "tensor(3.5000, size [], float32)")
  T.eq(tostring(tau.zeros(0)), "tensor([], size [0], float32)")
  T.eq(tostring(tau.tensor{0/0, 1/0, -1/0}), "tensor([ nan,  inf, -inf], size [3], float32)")
  T.eq(tostring(tau.tensor{1e-6, 1}), "tensor([1.0000e-06, 1.0000e+00], size [2], float32)")
  local w = tau.ones(2):requires_grad()
  T.eq(tostring(w), "tensor([1.0000, 1.0000], size [2], float32, requires_grad)")
  T.eq(tostring(w * 2), "tensor([2.0000, 2.0000], size [2], float32, grad_fn=mul)")
end)

T.test("tostring summarises large tensors", function()
  local s = tostring(tau.arange(1, 2000))
  T.ok(s:find("...", 1, true), s)
  T.ok(s:find("[   1,    2,    3, ..., 1998, 1999, 2000]", 1, true), s)
  T.ok(s:find("size [2000], int32", 1, true))
  local m = tostring(tau.zeros(100, 100))
  local lines = 0
  for _ in m:gmatch("\n") do lines = lines + 1 end
  T.ok(lines < 10, "a 100x100 tensor prints in a few lines, got " .. lines)
  T.ok(m:find("...,\n", 1, true))
  T.ok(#tostring(tau.zeros(10, 10, 10, 10)) < 20000)
  -- 1000 elements are still printed in full
  T.ok(not tostring(tau.zeros(1000)):find("...", 1, true))
end)

-- ---------------------------------------------------------------- indexing
T.test("x[i]: a number for 1-D, a slice otherwise; negative counts from the end", function()
  local v = tau.tensor{10, 20, 30}
  T.eq(v[1], 10)
  T.eq(v[3], 30)
  T.eq(v[-1], 30)
  T.eq(v[-3], 10)
  T.eq(type(v[2]), "number")
  local m = tau.tensor{{1, 2, 3}, {4, 5, 6}}
  T.ok(tau.is_tensor(m[2]))
  T.close(m[2], {4, 5, 6})
  T.close(m[-2], {1, 2, 3})
  T.eq(m[2][3], 6)
  -- the slice is a view
  m[2][1] = 40
  T.eq(m:totable()[2][1], 40)
  T.close(m:t()[3], {3, 6})
  T.raises(function() return v[0] end, "Tensor:__index: index 0 out of range 1..3")
  T.raises(function() return v[4] end, "index 4 out of range 1..3")
  T.raises(function() return v[-4] end, "index -4 out of range 1..3")
  T.raises(function() return v[1.5] end, "index must be an integer, got 1.5")
  T.raises(function() return tau.tensor(1)[1] end, "cannot index a 0-dimensional tensor")
end)

T.test("x[i] = v assigns numbers and tensors", function()
  local m = tau.zeros(2, 3)
  m[1] = 5
  m[2] = tau.tensor{1, 2, 3}
  T.close(m, {{5, 5, 5}, {1, 2, 3}})
  local v = tau.zeros(3)
  v[2] = 7
  v[-1] = 9
  T.close(v, {0, 7, 9})
  local t = tau.zeros(2, 3):t()
  t[3] = tau.tensor{1, 2}
  T.close(t, {{0, 0}, {0, 0}, {1, 2}})
  local i = tau.zeros(2, "int32")
  i[1] = 3
  T.eq(i[1], 3)
  T.raises(function() m[3] = 1 end, "Tensor:__newindex: index 3 out of range 1..2")
  T.raises(function() m[1] = tau.zeros(4) end, "Tensor:__newindex: shapes [3] and [4] cannot be broadcast")
  T.raises(function() m[1] = "x" end, "Tensor:__newindex: argument 3 must be a tensor or a number, got string")
  T.raises(function() m.foo = 1 end, "Tensor:__newindex: cannot set field 'foo' of a tensor")
  local w = tau.zeros(2):requires_grad()
  T.raises(function() w[1] = 1 end, "a leaf tensor that requires grad cannot be modified in place")
end)

T.test("get_flat and set_flat use logical 1-based positions", function()
  local x = tau.tensor{{1, 2, 3}, {4, 5, 6}}
  local t = x:t() -- {{1, 4}, {2, 5}, {3, 6}}
  T.eq(t:get_flat(2), 4)
  T.eq(t:get_flat(6), 6)
  t:set_flat(3, 20)
  T.eq(x[1][2], 20)
  T.eq(tau.tensor(9):get_flat(1), 9)
  T.raises(function() t:get_flat(7) end, "Tensor:get_flat: position 7 out of range 1..6")
  T.raises(function() t:get_flat(0) end, "position 0 out of range 1..6")
  T.raises(function() t:set_flat(1.5, 0) end, "Tensor:set_flat: position must be an integer, got 1.5")
  local w = tau.zeros(2):requires_grad()
  T.raises(function() w:set_flat(1, 1) end, "Tensor:set_flat: a leaf tensor that requires grad cannot be modified in place")
  tau.no_grad(function() w:set_flat(1, 1) end)
  T.eq(w[1], 1)
end)

-- ---------------------------------------------------------------- views
T.test("view, reshape, flatten", function()
  local x = tau.arange(1, 12):float()
  local v = x:view(3, 4)
  T.eq(shape(v), "3,4")
  T.eq(v[2][1], 5)
  v[1][1] = 100
  T.eq(x[1], 100, "a view shares storage")
  T.eq(shape(x:view{2, -1}), "2,6")
  T.eq(shape(x:reshape(1, 12)), "1,12")
  local t = v:t()
  T.raises(function() t:view(12) end, "Tensor:view: a tensor of size [4, 3] with these strides cannot be viewed")
  local r = t:reshape(12)
  T.close(r, {100, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12})
  T.eq(shape(tau.zeros(2, 3, 4):flatten()), "24")
  T.eq(shape(tau.zeros(2, 3, 4):flatten(2)), "2,12")
  T.eq(shape(tau.zeros(2, 3, 4, 5):flatten(2, 3)), "2,12,5")
  T.eq(shape(tau.tensor(1):flatten()), "1")
  T.raises(function() x:view(5) end, "Tensor:view: shape [5] is invalid for a tensor of size [12] (12 elements)")
  T.raises(function() x:view(-1, -1) end, "Tensor:view: only one dimension can be -1")
end)

T.test("transpose, t, permute with 1-based and negative dims", function()
  local x = tau.randn(2, 3, 4)
  T.eq(shape(x:transpose(1, 3)), "4,3,2")
  T.eq(shape(x:transpose(-1, 1)), "4,3,2")
  T.eq(shape(x:permute(3, 1, 2)), "4,2,3")
  T.eq(shape(x:permute{2, 3, 1}), "3,4,2")
  T.eq(shape(x:permute(-1, -2, -3)), "4,3,2")
  local p = x:permute(3, 1, 2)
  T.eq(p[4][2][3], x[2][3][4])
  local m = tau.tensor{{1, 2}, {3, 4}}
  T.close(m:t(), {{1, 3}, {2, 4}})
  T.raises(function() x:t() end, "Tensor:t: expects a 2-dimensional tensor, got 3 dimensions")
  T.raises(function() x:permute(1, 2) end, "Tensor:permute: 2 dimensions given for a 3-dimensional tensor")
  T.raises(function() x:permute(1, 1, 2) end, "Tensor:permute: the dimensions given are not a permutation of 1..3")
  T.raises(function() x:transpose(1, 4) end, "Tensor:transpose: dimension 4 out of range for a 3-dimensional tensor (use 1..3 or -3..-1)")
end)

T.test("narrow, select, squeeze, unsqueeze, expand", function()
  local x = tau.tensor{{1, 2, 3, 4}, {5, 6, 7, 8}}
  T.close(x:narrow(2, 2, 2), {{2, 3}, {6, 7}})
  T.close(x:narrow(1, 2, 1), {{5, 6, 7, 8}})
  T.close(x:select(2, 4), {4, 8})
  T.close(x:select(1, -1), {5, 6, 7, 8})
  T.raises(function() x:narrow(2, 4, 2) end, "Tensor:narrow: range 4..5 is out of bounds for dimension 2 of size 4")
  T.raises(function() x:select(1, 3) end, "Tensor:select: index 3 out of range 1..2")
  local u = x:unsqueeze(1)
  T.eq(shape(u), "1,2,4")
  T.eq(shape(x:unsqueeze(3)), "2,4,1")
  T.eq(shape(x:unsqueeze(-1)), "2,4,1")
  T.eq(shape(u:squeeze()), "2,4")
  T.eq(shape(tau.zeros(1, 2, 1):squeeze(3)), "1,2")
  T.eq(shape(tau.zeros(1, 2, 1):squeeze(2)), "1,2,1")
  T.raises(function() x:unsqueeze(4) end, "Tensor:unsqueeze: dimension 4 out of range for a 3-dimensional tensor")
  local c = tau.tensor{{1}, {2}}
  T.close(c:expand(2, 3), {{1, 1, 1}, {2, 2, 2}})
  T.close(c:expand{-1, 2}, {{1, 1}, {2, 2}})
  T.eq(shape(c:expand(4, 2, 3)), "4,2,3")
  T.eq(c:expand(2, 3):stride(2), 0)
  T.raises(function() c:expand(3, 3) end, "Tensor:expand: cannot expand a tensor of size [2, 1] to [3, 3] (dimension 1: 2 vs 3)")
end)

T.test("contiguous, clone, float, int", function()
  local x = tau.tensor{{1.7, -2.7}, {3, 4}}
  local t = x:t()
  local c = t:contiguous()
  T.ok(c:is_contiguous())
  T.close(c, {{1.7, 3}, {-2.7, 4}})
  local k = x:clone()
  k[1][1] = 0
  T.eq(x[1][1], x[1][1]) -- untouched
  T.near(x[1][1], 1.7)
  local i = x:int()
  T.eq(i:dtype(), "int32")
  T.close(i, {{1, -2}, {3, 4}})
  T.eq(i:float():dtype(), "float32")
end)

-- ---------------------------------------------------------------- arithmetic
T.test("operators with tensors and numbers on either side", function()
  local x = tau.tensor{1, 2, 4}
  local y = tau.tensor{2, 2, 2}
  T.close(x + y, {3, 4, 6})
  T.close(x - y, {-1, 0, 2})
  T.close(x * y, {2, 4, 8})
  T.close(x / y, {0.5, 1, 2})
  T.close(x + 1, {2, 3, 5})
  T.close(1 + x, {2, 3, 5})
  T.close(x - 1, {0, 1, 3})
  T.close(10 - x, {9, 8, 6})
  T.close(x * 3, {3, 6, 12})
  T.close(3 * x, {3, 6, 12})
  T.close(x / 2, {0.5, 1, 2})
  T.close(8 / x, {8, 4, 2})
  T.close(-x, {-1, -2, -4})
  T.close(x ^ 2, {1, 4, 16})
  T.close(2 ^ x, {2, 4, 16})
  T.close(x ^ y, {1, 4, 16})
  T.close(x:add(y), {3, 4, 6})
  T.close(tau.sub(x, 1), {0, 1, 3})
  T.close(x:mul(y), {2, 4, 8})
  T.close(x:div(4), {0.25, 0.5, 1})
  T.close(x:pow(0.5), {1, math.sqrt(2), 2})
  T.close(tau.maximum(x, y), {2, 2, 4})
  T.close(x:minimum(3), {1, 2, 3})
  -- broadcasting
  local col = tau.tensor{{10}, {20}}
  T.close(col + x, {{11, 12, 14}, {21, 22, 24}})
  T.eq(shape(tau.zeros(4, 1, 3) + tau.zeros(2, 1)), "4,2,3")
  T.raises(function() return tau.zeros(2, 3) + tau.zeros(3, 2) end,
           "tau.add: shapes [2, 3] and [3, 2] cannot be broadcast (dimension 1: 2 vs 3)")
end)

T.test("int32 arithmetic and mixed dtypes", function()
  local a = tau.tensor({7, -3, 4}, "int32")
  T.eq((a + 1):dtype(), "int32")
  T.eq((a * a):dtype(), "int32")
  T.eq((a + 0.5):dtype(), "float32")
  T.eq((a / 2):dtype(), "float32")
  T.close(a / 2, {3.5, -1.5, 2})
  T.eq((a + tau.ones(3)):dtype(), "float32")
  T.eq((-a):dtype(), "int32")
  T.close(-a, {-7, 3, -4})
  T.close(a:abs(), {7, 3, 4})
  T.eq(a:exp():dtype(), "float32")
  -- an integer beyond int32 is not squeezed into int32
  local big = a + (1 << 40)
  T.eq(big:dtype(), "float32")
  T.near(big[1], 2^40 + 7, 1e-6)
end)

T.test("comparisons give int32 0/1 against tensors and numbers", function()
  local x = tau.tensor{1, 2, 3}
  local y = tau.tensor{3, 2, 1}
  T.close(x:eq(y), {0, 1, 0})
  T.close(x:ne(y), {1, 0, 1})
  T.close(x:lt(y), {1, 0, 0})
  T.close(x:le(y), {1, 1, 0})
  T.close(x:gt(2), {0, 0, 1})
  T.close(x:ge(2), {0, 1, 1})
  T.eq(x:eq(y):dtype(), "int32")
  T.close(tau.eq(x, 2), {0, 1, 0})
end)

T.test("every unary math function", function()
  local x = tau.tensor{0.25, 0.5, 2}
  local ref = {
    neg = function(v) return -v end, exp = math.exp, log = math.log, sqrt = math.sqrt,
    rsqrt = function(v) return 1 / math.sqrt(v) end, abs = math.abs,
    sign = function(v) return v > 0 and 1 or (v < 0 and -1 or 0) end,
    tanh = function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end,
    sigmoid = function(v) return 1 / (1 + math.exp(-v)) end,
    relu = function(v) return math.max(v, 0) end, floor = math.floor, ceil = math.ceil,
    sin = math.sin, cos = math.cos,
    log1p = function(v) return math.log(1 + v) end, expm1 = function(v) return math.exp(v) - 1 end,
    reciprocal = function(v) return 1 / v end, square = function(v) return v * v end,
  }
  for name, f in pairs(ref) do
    local want = {}
    for i = 1, 3 do want[i] = f(x[i]) end
    T.close(x[name](x), want, 1e-5, name)
    T.close(tau[name](x), want, 1e-5, "tau." .. name)
  end
  T.close(tau.tensor{0, 0.5}:erf(), {0, 0.5204998778}, 1e-6)
  T.close(tau.tensor{-1, 0, 1}:sign(), {-1, 0, 1})
  T.close(tau.tensor{-2.5, -0.5, 0.5, 1.5}:round(), {-2, -0, 0, 2}) -- ties to even
  T.close(tau.tensor{1, 0/0}:isnan(), {0, 1})
  T.close(tau.tensor{-2, 0.5, 2}:clamp(-1, 1), {-1, 0.5, 1})
  T.close(tau.tensor{-2, 0.5, 2}:clamp(0), {0, 0.5, 2})
  T.close(tau.tensor{-2, 0.5, 2}:clamp(nil, 0), {-2, 0, 0})
  T.close(tau.clamp(tau.tensor{3}, 0, 1), {1})
  T.raises(function() x:clamp("a") end, "tau.clamp: bound must be a number or nil, got string")
end)

T.test("in-place ops", function()
  local x = tau.tensor{1, 2, 3}
  T.eq(x:add_(1), x, "returns self")
  T.close(x, {2, 3, 4})
  x:sub_(tau.tensor{1, 1, 1})
  T.close(x, {1, 2, 3})
  x:mul_(2)
  T.close(x, {2, 4, 6})
  x:div_(tau.tensor{2, 4, 6})
  T.close(x, {1, 1, 1})
  x:add_(2, tau.tensor{1, 2, 3})
  T.close(x, {3, 5, 7})
  x:sub_(2, tau.tensor{1, 2, 3})
  T.close(x, {1, 1, 1})
  x:copy_(tau.tensor{-5, 0, 5})
  x:clamp_(-1, 1)
  T.close(x, {-1, 0, 1})
  x:fill_(4)
  T.close(x, {4, 4, 4})
  x:zero_()
  T.close(x, {0, 0, 0})
  x:copy_(3)
  T.close(x, {3, 3, 3})
  -- broadcast into a view
  local m = tau.zeros(2, 3)
  m:t():add_(tau.tensor{1, 2})
  T.close(m, {{1, 1, 1}, {2, 2, 2}})
  m[1]:mul_(10)
  T.close(m, {{10, 10, 10}, {2, 2, 2}})
  -- a view of the target as the source is read as it was before the write
  local sq = tau.tensor{{1, 2}, {3, 4}}
  sq:copy_(sq:t())
  T.close(sq, {{1, 3}, {2, 4}})
  sq:add_(sq:t())
  T.close(sq, {{2, 5}, {5, 8}})
  local line = tau.arange(1, 6):float()
  line:narrow(1, 2, 5):copy_(line:narrow(1, 1, 5))
  T.close(line, {1, 1, 2, 3, 4, 5})
  local u = tau.zeros(1000):uniform_(2, 3)
  T.ok(u:min():item() >= 2 and u:max():item() < 3)
  local n = tau.zeros(10000):normal_(5, 2)
  T.near(n:mean():item(), 5, 0.02)
  T.near(n:std():item(), 2, 0.05)
  T.raises(function() x:add_(tau.zeros(2, 3)) end,
           "Tensor:add_: the result of size [2, 3] does not fit the tensor of size [3] written in place")
  T.raises(function() x:mul_(2, tau.ones(3)) end, "Tensor:mul_: (scale, tensor) form is for add_ and sub_")
  T.raises(function() tau.zeros(2, "int32"):uniform_() end, "Tensor:uniform_: float32 tensor expected")
end)

T.test("in-place ops refuse leaves requiring grad and graph tensors", function()
  local w = tau.ones(3):requires_grad()
  local leaf_msg = "a leaf tensor that requires grad cannot be modified in place (use tau.no_grad, or detach() it first)"
  for _, f in ipairs{
    {"add_", function() w:add_(1) end}, {"sub_", function() w:sub_(1) end},
    {"mul_", function() w:mul_(2) end}, {"div_", function() w:div_(2) end},
    {"clamp_", function() w:clamp_(0, 1) end}, {"fill_", function() w:fill_(0) end},
    {"zero_", function() w:zero_() end}, {"copy_", function() w:copy_(tau.zeros(3)) end},
    {"uniform_", function() w:uniform_() end}, {"normal_", function() w:normal_() end},
  } do
    T.raises(f[2], "Tensor:" .. f[1] .. ": " .. leaf_msg)
  end
  T.raises(function() (w * 2):add_(1) end,
           "Tensor:add_: in-place operations on a tensor recorded in an autograd graph are not supported")
  -- allowed under no_grad and on a detached alias (which shares storage)
  tau.no_grad(function() w:mul_(3) end)
  T.close(w, {3, 3, 3})
  w:detach():add_(1)
  T.close(w, {4, 4, 4})
end)

-- ---------------------------------------------------------------- reductions
T.test("sum, mean, prod over all and over a dim, keepdim", function()
  local x = tau.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(x:sum():item(), 21)
  T.eq(x:sum():dim(), 0)
  T.close(x:sum(1), {5, 7, 9})
  T.close(x:sum(2), {6, 15})
  T.close(x:sum(-1), {6, 15})
  T.close(x:sum(2, true), {{6}, {15}})
  T.close(x:sum(1, {keepdim = true}), {{5, 7, 9}})
  T.eq(shape(x:sum(true)), "1,1")
  T.close(x:mean(1), {2.5, 3.5, 4.5})
  T.near(x:mean():item(), 3.5)
  T.close(x:prod(2), {6, 120})
  T.eq(tau.tensor({1, 2}, "int32"):sum():dtype(), "int32")
  T.eq(tau.tensor({1, 2}, "int32"):mean():dtype(), "float32")
  T.close(tau.sum(x, 1), {5, 7, 9})
  T.raises(function() x:sum(3) end, "tau.sum: dimension 3 out of range for a 2-dimensional tensor (use 1..2 or -2..-1)")
  T.raises(function() x:sum(0) end, "tau.sum: dimension 0 out of range")
  T.raises(function() x:sum(1.5) end, "tau.sum: dimension must be an integer, got 1.5")
end)

T.test("var and std, unbiased by default", function()
  local x = tau.tensor{{1, 2, 3, 4}, {2, 2, 2, 2}}
  T.close(x:var(2), {5 / 3, 0})
  T.close(x:var(2, {unbiased = false}), {1.25, 0})
  T.close(x:std(2), {math.sqrt(5 / 3), 0})
  T.close(x:std(2, {unbiased = false, keepdim = true}), {{math.sqrt(1.25)}, {0}})
  local all = {1, 2, 3, 4, 2, 2, 2, 2}
  local m, s = 0, 0
  for _, v in ipairs(all) do m = m + v / 8 end
  for _, v in ipairs(all) do s = s + (v - m) ^ 2 end
  T.near(x:var():item(), s / 7)
  T.near(x:std({unbiased = false}):item(), math.sqrt(s / 8))
end)

T.test("max and min give values and 1-based indices; argmax is 1-based", function()
  local x = tau.tensor{{1, 5, 3}, {7, 2, 9}, {4, 4, 0}}
  local v, i = x:max(2)
  T.close(v, {5, 9, 4})
  T.close(i, {2, 3, 1})
  T.eq(i:dtype(), "int32")
  local v1, i1 = x:min(1)
  T.close(v1, {1, 2, 0})
  T.close(i1, {1, 2, 3})
  local vk, ik = x:max(1, true)
  T.eq(shape(vk), "1,3")
  T.close(ik, {{2, 1, 2}})
  T.eq(x:max():item(), 9)
  T.eq(x:min():item(), 0)
  T.close(x:argmax(2), {2, 3, 1})
  T.close(x:argmin(1), {1, 2, 3})
  T.eq(x:argmax():item(), 6, "over all: the 1-based flat position")
  T.eq(x:argmin():item(), 9)
  T.eq(shape(x:argmax(2, true)), "3,1")
  T.close(tau.argmax(tau.tensor{3, 8, 8}), 2)
  local vi, ii = tau.tensor({{3, -1}}, "int32"):max(2)
  T.eq(vi:dtype(), "int32")
  T.eq(vi[1], 3)
  T.eq(ii[1], 1)
  T.raises(function() tau.zeros(0, 2):max(1) end, "tau.max: cannot reduce over an empty dimension (tensor of size [0, 2])")
end)

T.test("logsumexp, including rows of -inf", function()
  local x = tau.tensor{{0, 0}, {-1/0, -1/0}, {1000, 1000}, {-1/0, 0}}
  local r = x:logsumexp(2):totable()
  T.near(r[1], math.log(2))
  T.eq(r[2], -1/0)
  T.near(r[3], 1000 + math.log(2))
  T.near(r[4], 0)
  T.near(tau.tensor{1, 2, 3}:logsumexp():item(), math.log(math.exp(1) + math.exp(2) + math.exp(3)))
end)

-- ---------------------------------------------------------------- linear algebra and indexing
T.test("matmul, mm, bmm over 1-D, 2-D, batched and broadcast batch", function()
  local a = tau.tensor{{1, 2}, {3, 4}, {5, 6}}
  local b = tau.tensor{{1, 0, 2}, {0, 1, 3}}
  T.close(a:matmul(b), {{1, 2, 8}, {3, 4, 18}, {5, 6, 28}})
  T.close(a:mm(b), {{1, 2, 8}, {3, 4, 18}, {5, 6, 28}})
  T.close(tau.matmul(b:t(), a:t()), a:matmul(b):t())
  local v = tau.tensor{1, 1}
  T.close(a:matmul(v), {3, 7, 11})
  T.close(tau.tensor{1, 1, 1}:matmul(a), {9, 12})
  T.eq(tau.tensor{1, 2}:matmul(tau.tensor{3, 4}):item(), 11)
  local ba = tau.randn(4, 3, 2)
  local bb = tau.randn(4, 2, 5)
  local r = tau.bmm(ba, bb)
  T.eq(shape(r), "4,3,5")
  T.close(r[3], ba[3]:matmul(bb[3]), 1e-5)
  local bc = tau.randn(2, 1, 3, 2):matmul(tau.randn(5, 2, 4))
  T.eq(shape(bc), "2,5,3,4")
  T.raises(function() tau.bmm(a, b) end, "tau.bmm: expects two 3-dimensional tensors with the same batch size, got [3, 2] and [2, 3]")
  T.raises(function() a:matmul(a) end, "tau.matmul: size mismatch, a is [3, 2], b is [3, 2] (a:size(2) must equal b:size(1))")
  T.raises(function() a:int():matmul(b) end, "tau.matmul: float32 tensors expected, got int32 and float32")
end)

T.test("where", function()
  local c = tau.tensor{1, 0, 1}:int()
  T.close(tau.where(c, tau.tensor{1, 2, 3}, tau.tensor{-1, -2, -3}), {1, -2, 3})
  T.close(tau.where(c, 5, 0), {5, 0, 5})
  T.close(tau.where(tau.tensor{{1}, {0}}, tau.tensor{1, 2}, 0), {{1, 2}, {0, 0}})
  T.close(tau.where(tau.tensor{1, 2, 3}:gt(1), 1, 0), {0, 1, 1})
  T.raises(function() tau.where(1, 2, 3) end, "tau.where: argument 1 must be a tensor, got number")
end)

T.test("cat and stack", function()
  local a = tau.tensor{{1, 2}, {3, 4}}
  local b = tau.tensor{{5, 6}}
  T.close(tau.cat{a, b}, {{1, 2}, {3, 4}, {5, 6}})
  T.close(tau.cat({a, a:t()}, 2), {{1, 2, 1, 3}, {3, 4, 2, 4}})
  T.close(tau.cat({a, b:t()}, -1), {{1, 2, 5}, {3, 4, 6}})
  T.eq(tau.cat({tau.ones(1, "int32"), tau.ones(1)}):dtype(), "float32")
  T.close(tau.stack{tau.tensor{1, 2}, tau.tensor{3, 4}}, {{1, 2}, {3, 4}})
  T.close(tau.stack({tau.tensor{1, 2}, tau.tensor{3, 4}}, 2), {{1, 3}, {2, 4}})
  T.raises(function() tau.cat({a, b}, 2) end,
           "tau.cat: tensor 2 has size [1, 2], which does not match [2, 2] except in dimension 2")
  T.raises(function() tau.stack{a, b} end, "tau.stack: tensor 2 has size [1, 2] but tensor 1 has size [2, 2]")
  T.raises(function() tau.cat{} end, "tau.cat: expected a non-empty list of tensors")
  T.raises(function() tau.cat{a, 3} end, "tau.cat: element 2 of the list is not a tensor (number)")
  T.raises(function() tau.cat({a}, 3) end, "tau.cat: dimension 3 out of range for a 2-dimensional tensor")
  T.raises(function() tau.stack({a}, 4) end, "tau.stack: dimension 4 out of range for a 3-dimensional tensor")
end)

T.test("index_select, gather, scatter_add and one_hot take 1-based indices", function()
  local x = tau.tensor{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}}
  T.close(x:index_select(1, {4, 1, 1}), {{10, 11, 12}, {1, 2, 3}, {1, 2, 3}})
  T.close(x:index_select(2, tau.tensor({3}, "int32")), {{3}, {6}, {9}, {12}})
  T.close(tau.index_select(x, -1, {1, 3}), {{1, 3}, {4, 6}, {7, 9}, {10, 12}})
  T.raises(function() x:index_select(1, {5}) end, "tau.index_select: index 5 out of range 1..4")
  T.raises(function() x:index_select(1, {0}) end, "tau.index_select: index 0 out of range 1..4")
  T.raises(function() x:index_select(1, tau.tensor{1}) end, "tau.index_select: index must be an int32 tensor, got float32")
  T.raises(function() x:index_select(1, "a") end, "tau.index_select: index must be an int32 tensor or a table, got string")
  T.raises(function() x:index_select(1, {{1}}) end, "tau.index_select: index must be 1-dimensional, got 2 dimensions")
  T.close(x:gather(2, {{3, 1}, {2, 2}, {1, 1}, {3, 3}}), {{3, 1}, {5, 5}, {7, 7}, {12, 12}})
  T.close(x:gather(1, {{4, 1, 2}}), {{10, 2, 6}})
  T.raises(function() x:gather(2, {{4}, {1}, {1}, {1}}) end, "tau.gather: index 4 out of range 1..3")
  T.raises(function() x:gather(2, {1, 2}) end, "tau.gather: index of size [2] does not fit a tensor of size [4, 3]")
  local s = tau.zeros(2, 3):scatter_add(2, {{1, 1}, {3, 2}}, tau.tensor{{1, 2}, {3, 4}})
  T.close(s, {{3, 0, 0}, {0, 4, 3}})
  T.close(tau.scatter_add(tau.ones(3), 1, {2, 2, 3}, tau.tensor{1, 1, 1}), {1, 3, 2})
  T.raises(function() tau.zeros(2, 3):scatter_add(2, {{4, 1}, {1, 1}}, tau.ones(2, 2)) end,
           "tau.scatter_add: index 4 out of range 1..3")
  T.raises(function() tau.zeros(2, 3):scatter_add(2, {{1, 1}}, tau.ones(2, 2)) end,
           "tau.scatter_add: index of size [1, 2] and src of size [2, 2] must have the same size")
  T.close(tau.one_hot({2, 1, 3}, 3), {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}})
  T.eq(shape(tau.one_hot(tau.tensor({{1, 2}}, "int32"), 4)), "1,2,4")
  T.raises(function() tau.one_hot({4}, 3) end, "tau.one_hot: index 4 out of range 1..3")
  T.raises(function() tau.one_hot({1}, 0) end, "tau.one_hot: number of classes must be positive, got 0")
end)

T.test("allclose and equal", function()
  local a = tau.tensor{1, 2, 3}
  T.ok(a:allclose(a + 1e-7))
  T.ok(not a:allclose(a + 1e-3))
  T.ok(a:allclose(a + 1e-3, {atol = 1e-2}))
  T.ok(a:allclose(a * 1.001, {rtol = 1e-2}))
  T.ok(tau.allclose(tau.ones(2, 3), 1), "a number broadcasts")
  T.ok(tau.ones(2, 3):allclose(tau.ones(3)))
  T.ok(not tau.ones(2, 3):allclose(tau.ones(2)), "shapes that do not broadcast are not close")
  local n = tau.tensor{0/0, 1}
  T.ok(not n:allclose(n))
  T.ok(n:allclose(n, {equal_nan = true}))
  T.ok(a:equal(tau.tensor{1, 2, 3}))
  T.ok(not a:equal(a:int()))
  T.ok(not a:equal(tau.tensor{1, 2}))
  T.ok(tau.equal(a:view(3, 1):t(), tau.tensor{{1, 2, 3}}))
end)

-- ---------------------------------------------------------------- life cycle
T.test("__close and __gc release a tensor once; using it afterwards is an error", function()
  local live = tau.memory().live
  do
    local x <close> = tau.zeros(1000)
    T.ok(tau.memory().live >= live + 4000)
  end
  collectgarbage()
  local y = tau.zeros(3)
  local gc = getmetatable(y).__gc
  gc(y)
  gc(y) -- idempotent
  T.eq(tostring(y), "tensor(released)")
  T.raises(function() return y:sum() end, "tau.sum: argument 1 must be a tensor, got a released tensor")
  T.raises(function() return y + 1 end, "tau.add: argument 1 must be a tensor or a number, got a released tensor")
end)

T.test("settings: threads, memory, version", function()
  local n = tau.get_num_threads()
  T.ok(n >= 1)
  tau.set_num_threads(1)
  T.eq(tau.get_num_threads(), 1)
  tau.set_num_threads(n)
  T.raises(function() tau.set_num_threads(0) end, "tau.set_num_threads: thread count must be at least 1, got 0")
  local m = tau.memory()
  T.ok(m.live >= 0 and m.cached >= 0 and m.heap_allocs >= 0)
  T.eq(type(tau.version), "string")
  T.eq(tau._VERSION, tau.version) -- and bin/tau -v prints it: tests/repl/test_repl.sh
end)

-- Names registered by the tensor and autograd bindings: each is exercised above or in
-- test_autograd.lua; this keeps the lists honest when names move.
T.test("every documented method and function exists", function()
  local methods = getmetatable(tau.zeros(1)).__methods
  for name in ([[size stride dim numel nelement dtype type is_contiguous item totable view reshape
      expand transpose t permute narrow select squeeze unsqueeze flatten contiguous clone float int
      add sub mul div pow maximum minimum eq ne lt le gt ge neg exp log sqrt rsqrt abs sign tanh
      sigmoid relu floor ceil round sin cos log1p expm1 reciprocal square erf isnan clamp add_ sub_
      mul_ div_ clamp_ fill_ zero_ copy_ uniform_ normal_ sum mean prod var std max min logsumexp
      argmax argmin matmul mm bmm index_select get_flat set_flat gather scatter_add allclose
      equal]]):gmatch("%S+") do
    T.eq(type(methods[name]), "function", "method " .. name)
    T.eq(type(tau[name]), "function", "tau." .. name)
  end
  for name in ("requires_grad requires_grad_ detach backward zero_grad"):gmatch("%S+") do
    T.eq(type(methods[name]), "function", "method " .. name)
  end
  for name in ([[tensor zeros ones full empty rand randn randint randperm arange linspace eye cat
      stack where one_hot grad no_grad set_grad_enabled is_grad_enabled graph_dot manual_seed
      get_rng_state set_rng_state set_num_threads get_num_threads memory is_tensor]]):gmatch("%S+") do
    T.eq(type(tau[name]), "function", "tau." .. name)
  end
end)
