-- The error messages users see: each names the function, the argument and the shapes.
local T = ...
tau.manual_seed(3)

-- The whole message must be `msg`, after the "file:line: " location Lua adds.
local function exact(fn, msg)
  local err = T.raises(fn, msg)
  local loc = err:sub(1, #err - #msg)
  -- (no location when the call came through another C function, e.g. a string metamethod)
  T.ok(err:sub(-#msg) == msg and (loc == "" or loc:match("^[^:]*:%d+: $")), "message is " .. string.format("%q", err))
end

local x = tau.randn(2, 3)

T.test("matmul size mismatch reads as documented", function()
  exact(function() return tau.matmul(tau.zeros(4, 3), tau.zeros(5, 2)) end,
        "tau.matmul: size mismatch, a is [4, 3], b is [5, 2] (a:size(2) must equal b:size(1))")
  exact(function() return tau.zeros(4, 3):matmul(tau.zeros(5, 2)) end,
        "tau.matmul: size mismatch, a is [4, 3], b is [5, 2] (a:size(2) must equal b:size(1))")
  exact(function() return tau.zeros(2, 4, 3):matmul(tau.zeros(2, 5, 2)) end,
        "tau.matmul: size mismatch, a is [2, 4, 3], b is [2, 5, 2] (a:size(3) must equal b:size(2))")
  exact(function() return tau.zeros(3):matmul(tau.zeros(4)) end,
        "tau.matmul: size mismatch, a is [3], b is [4] (a:size(1) must equal b:size(1))")
  exact(function() return tau.zeros(3, 2, 4):matmul(tau.zeros(2, 4, 1)) end,
        "tau.matmul: batch dimensions of [3, 2, 4] and [2, 4, 1] cannot be broadcast")
  exact(function() return tau.zeros(3):matmul(tau.tensor(1)) end,
        "tau.matmul: both arguments must have at least one dimension, got [3] and []")
end)

T.test("wrong types where a tensor is expected", function()
  exact(function() return tau.exp(nil) end, "tau.exp: argument 1 must be a tensor, got nil")
  exact(function() return tau.exp("x") end, "tau.exp: argument 1 must be a tensor, got string")
  exact(function() return tau.exp({1, 2}) end, "tau.exp: argument 1 must be a tensor, got table")
  exact(function() return tau.matmul(x, nil) end, "tau.matmul: argument 2 must be a tensor, got nil")
  exact(function() return tau.matmul(x, {}) end, "tau.matmul: argument 2 must be a tensor, got table")
  exact(function() return x + nil end, "tau.add: argument 2 must be a tensor or a number, got nil")
  exact(function() return "a" * x end, "tau.mul: argument 1 must be a tensor or a number, got string")
  exact(function() return x - {} end, "tau.sub: argument 2 must be a tensor or a number, got table")
  exact(function() return tau.add(1, 2) end, "tau.add: expects a tensor argument")
  exact(function() return x:sum("a") end, "tau.sum: options must be a table, got string")
  exact(function() return x:sum(1, {keepdim = 1}) end, "tau.sum: keepdim must be a boolean, got 1")
  exact(function() return x:copy_(nil) end, "Tensor:copy_: argument 2 must be a tensor or a number, got nil")
  exact(function() return x:view("a") end, "Tensor:view: shape [] is invalid for a tensor of size [2, 3] (6 elements)")
  exact(function() return tau.cat{x, "a"} end, "tau.cat: element 2 of the list is not a tensor (string)")
  exact(function() return tau.where(x:gt(0), "a", x) end, "tau.where: argument 2 must be a tensor or a number, got string")
  exact(function() return tau.scatter_add(x, 1, {{1}}, nil) end, "tau.scatter_add: argument 4 must be a tensor, got nil")
  exact(function() return tau.graph_dot(5) end, "tau.graph_dot: argument 1 must be a tensor, got number")
  T.raises(function() return tau.cat(x) end, "bad argument #1 to 'cat' (table expected, got tau.Tensor)")
  T.raises(function() return x:size("a") end, "Tensor:size: dimension must be an integer, got string")
end)

T.test("negative sizes", function()
  exact(function() return tau.zeros(-1) end, "tau.zeros: negative size -1 in dimension 1")
  exact(function() return tau.randn(2, -3) end, "tau.randn: negative size -3 in dimension 2")
  exact(function() return tau.ones{4, -2} end, "tau.ones: negative size -2 in dimension 2")
  exact(function() return tau.full({-1}, 3) end, "tau.full: negative size -1 in dimension 1")
  exact(function() return tau.rand(-5) end, "tau.rand: negative size -5 in dimension 1")
  exact(function() return tau.randint(1, 3, {-2}) end, "tau.randint: negative size -2 in dimension 1")
  exact(function() return tau.eye(3, -1) end, "tau.eye: negative size -1 in dimension 2")
  exact(function() return tau.linspace(0, 1, -3) end, "tau.linspace: negative number of points -3")
  exact(function() return tau.randperm(-1) end, "tau.randperm: n must be non-negative, got -1")
  exact(function() return x:view(-2, 3) end, "Tensor:view: invalid size -2 in dimension 1")
  exact(function() return x:reshape(3, -4) end, "Tensor:reshape: invalid size -4 in dimension 2")
  exact(function() return x:narrow(2, 1, -1) end, "Tensor:narrow: negative length -1")
  exact(function() return x:expand(-3, 3) end, "Tensor:expand: cannot expand a tensor of size [2, 3] to [-3, 3] (dimension 1: 2 vs -3)")
  exact(function() return x:expand(-1, 2, 3) end, "Tensor:expand: size -1 is not allowed for a new leading dimension")
end)

T.test("sizes too large are refused before allocating", function()
  exact(function() return tau.zeros(2^40, 2^40) end,
        "tau.zeros: size [1099511627776, 1099511627776] is too large (more than 1099511627776 elements)")
  exact(function() return tau.randn{2^31, 2^31, 2^31} end,
        "tau.randn: size [2147483648, 2147483648, 2147483648] is too large (more than 1099511627776 elements)")
  T.raises(function() return tau.ones(2^62, 2^62, 4) end, "tau.ones: size", "is too large")
  T.raises(function() return tau.eye(2^40, 2^40) end, "tau.eye: size [1099511627776, 1099511627776] is too large")
  T.raises(function() return tau.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "tau.zeros: at most 8 dimensions are supported")
  T.raises(function() return tau.zeros{1, 1, 1, 1, 1, 1, 1, 1, 1} end, "tau.zeros: 9 dimensions given, at most 8 are supported")
  T.raises(function() return tau.arange(0, 2^50) end, "tau.arange: too many elements")
  T.raises(function() return tau.zeros(2^40, 2):view(-1) end, "too large")
  T.raises(function() return tau.zeros(1):expand(2^40, 2^40) end, "Tensor:expand: size", "is too large")
end)

T.test("NaN, infinite and non-integer sizes", function()
  T.raises(function() return tau.zeros(0/0) end, "tau.zeros: size must be an integer, got ", "nan")
  T.raises(function() return tau.zeros(1/0) end, "tau.zeros: size must be an integer, got inf")
  T.raises(function() return tau.randn{2, 0/0} end, "tau.randn: size must be an integer, got ", "nan")
  exact(function() return tau.zeros(2.5) end, "tau.zeros: size must be an integer, got 2.5")
  exact(function() return tau.ones{3, 1.5} end, "tau.ones: size must be an integer, got 1.5")
  exact(function() return x:view(1.5, 4) end, "Tensor:view: size must be an integer, got 1.5")
  exact(function() return tau.randint(1, 2, {2.5}) end, "tau.randint: size must be an integer, got 2.5")
  exact(function() return tau.randint(1.5, 2, {2}) end, "tau.randint: lower bound must be an integer, got 1.5")
  exact(function() return tau.randperm(0.5) end, "tau.randperm: n must be an integer, got 0.5")
  exact(function() return tau.eye(2.5) end, "tau.eye: n must be an integer, got 2.5")
  exact(function() return tau.linspace(0, 1, 2.5) end, "tau.linspace: number of points must be an integer, got 2.5")
  exact(function() return tau.ones{"a"} end, "tau.ones: size must be an integer, got string")
  exact(function() return x:narrow(1, 1.5, 1) end, "Tensor:narrow: start must be an integer, got 1.5")
  exact(function() return tau.one_hot({1}, 2.5) end, "tau.one_hot: number of classes must be an integer, got 2.5")
end)

T.test("out of range dimensions", function()
  local dimerr = "dimension %d out of range for a 2-dimensional tensor (use 1..2 or -2..-1)"
  exact(function() return x:sum(3) end, "tau.sum: " .. dimerr:format(3))
  exact(function() return x:sum(0) end, "tau.sum: " .. dimerr:format(0))
  exact(function() return x:mean(-3) end, "tau.mean: " .. dimerr:format(-3))
  exact(function() return x:max(5) end, "tau.max: " .. dimerr:format(5))
  exact(function() return x:argmax(3) end, "tau.argmax: " .. dimerr:format(3))
  exact(function() return x:transpose(0, 1) end, "Tensor:transpose: " .. dimerr:format(0))
  exact(function() return x:size(3) end, "Tensor:size: " .. dimerr:format(3))
  exact(function() return x:narrow(3, 1, 1) end, "Tensor:narrow: " .. dimerr:format(3))
  exact(function() return x:select(-3, 1) end, "Tensor:select: " .. dimerr:format(-3))
  exact(function() return x:squeeze(4) end, "Tensor:squeeze: " .. dimerr:format(4))
  exact(function() return x:index_select(3, {1}) end, "tau.index_select: " .. dimerr:format(3))
  exact(function() return x:gather(0, {{1}}) end, "tau.gather: " .. dimerr:format(0))
  exact(function() return x:permute(1, 3) end, "Tensor:permute: " .. dimerr:format(3))
  exact(function() return x:unsqueeze(4) end,
        "Tensor:unsqueeze: dimension 4 out of range for a 3-dimensional tensor (use 1..3 or -3..-1)")
  exact(function() return tau.cat({x, x}, 3) end, "tau.cat: " .. dimerr:format(3))
  exact(function() return tau.tensor(1):sum(2) end,
        "tau.sum: dimension 2 out of range for a 0-dimensional tensor (use 1..1 or -1..-1)")
end)

T.test("out of range indices", function()
  exact(function() return x[3] end, "Tensor:__index: index 3 out of range 1..2")
  exact(function() return x[0] end, "Tensor:__index: index 0 out of range 1..2")
  exact(function() return x[-3] end, "Tensor:__index: index -3 out of range 1..2")
  exact(function() return x[1][4] end, "Tensor:__index: index 4 out of range 1..3")
  exact(function() x[3] = 1 end, "Tensor:__newindex: index 3 out of range 1..2")
  exact(function() return x:select(2, 4) end, "Tensor:select: index 4 out of range 1..3")
  exact(function() return x:narrow(1, 2, 2) end, "Tensor:narrow: range 2..3 is out of bounds for dimension 1 of size 2")
  exact(function() return x:narrow(1, 0, 1) end, "Tensor:narrow: range 0..0 is out of bounds for dimension 1 of size 2")
  exact(function() return x:index_select(1, {1, 3}) end, "tau.index_select: index 3 out of range 1..2")
  exact(function() return x:index_select(2, {0}) end, "tau.index_select: index 0 out of range 1..3")
  exact(function() return x:gather(2, {{1}, {4}}) end, "tau.gather: index 4 out of range 1..3")
  exact(function() return x:scatter_add(1, {{3}}, tau.ones(1, 1)) end, "tau.scatter_add: index 3 out of range 1..2")
  exact(function() return tau.one_hot({0}, 3) end, "tau.one_hot: index 0 out of range 1..3")
  exact(function() return x:get_flat(7) end, "Tensor:get_flat: position 7 out of range 1..6")
  exact(function() return tau.tensor(1)[1] end, "Tensor:__index: cannot index a 0-dimensional tensor")
  exact(function() return tau.tensor(1):select(1, 1) end, "Tensor:select: cannot index a 0-dimensional tensor")
end)

T.test("bad dtype strings", function()
  exact(function() return tau.zeros(2, "float64") end, "tau.zeros: unknown dtype 'float64' (float32 or int32)")
  exact(function() return tau.tensor({1}, "double") end, "tau.tensor: unknown dtype 'double' (float32 or int32)")
  exact(function() return tau.full({2}, 1, "i32") end, "tau.full: unknown dtype 'i32' (float32 or int32)")
  exact(function() return tau.arange(1, 3, "int64") end, "tau.arange: unknown dtype 'int64' (float32 or int32)")
  exact(function() return x:type("half") end, "Tensor:type: unknown dtype 'half' (float32 or int32)")
  exact(function() return tau.tensor({1}, true) end, "tau.tensor: dtype must be a string, got boolean")
  exact(function() return tau.tensor({1}, 32) end, "tau.tensor: dtype must be a string, got number")
end)

T.test("shape errors name both shapes", function()
  exact(function() return tau.zeros(2, 3) + tau.zeros(3, 2) end,
        "tau.add: shapes [2, 3] and [3, 2] cannot be broadcast (dimension 1: 2 vs 3)")
  exact(function() return tau.maximum(tau.zeros(4), tau.zeros(3)) end,
        "tau.maximum: shapes [4] and [3] cannot be broadcast (dimension 1: 4 vs 3)")
  exact(function() return tau.zeros(2, 3):eq(tau.zeros(2)) end,
        "tau.eq: shapes [2, 3] and [2] cannot be broadcast (dimension 2: 3 vs 2)")
  exact(function() return x:view(4) end, "Tensor:view: shape [4] is invalid for a tensor of size [2, 3] (6 elements)")
  exact(function() return x:t():view(6) end,
        "Tensor:view: a tensor of size [3, 2] with these strides cannot be viewed with a new shape; use reshape (which copies) or contiguous() first")
  exact(function() return tau.zeros(3):copy_(tau.zeros(2)) end,
        "Tensor:copy_: shapes [3] and [2] cannot be broadcast (dimension 1: 3 vs 2)")
  exact(function() return tau.zeros(3):add_(tau.zeros(2, 3)) end,
        "Tensor:add_: the result of size [2, 3] does not fit the tensor of size [3] written in place")
  exact(function() return tau.zeros(3):add_(2, tau.zeros(2)) end,
        "Tensor:add_: cannot add a float32 tensor of size [2] into a float32 tensor of size [3]")
  exact(function() return tau.stack{tau.zeros(2), tau.zeros(3)} end,
        "tau.stack: tensor 2 has size [3] but tensor 1 has size [2]")
  exact(function() return tau.where(tau.ones(4), x, x) end,
        "tau.where: shapes [4] and [2, 3] cannot be broadcast (dimension 2: 4 vs 3)")
  exact(function() return tau.zeros(0, 3):max(1) end,
        "tau.max: cannot reduce over an empty dimension (tensor of size [0, 3])")
  exact(function() return x:item() end,
        "Tensor:item: only a tensor with one element can be converted to a number, got size [2, 3]")
end)

T.test("autograd errors", function()
  local w = tau.randn(3):requires_grad()
  exact(function() (w * 2):backward() end,
        "Tensor:backward: a gradient must be given for a non-scalar tensor of size [3]")
  exact(function() (w * 2):backward(tau.ones(2)) end,
        "Tensor:backward: gradient of size [2] given for a tensor of size [3]")
  exact(function() tau.ones(2):sum():backward() end,
        "Tensor:backward: the tensor does not require grad and has no grad_fn")
  exact(function() (w * 2):backward(5) end,
        "Tensor:backward: argument 2 must be a gradient tensor or an options table, got number")
  local l = (w * w):sum()
  l:backward()
  exact(function() l:backward() end,
        "Tensor:backward: the graph has already been freed by an earlier backward; pass retain_graph = true the first time")
  -- in-place writes to a saved tensor are caught at backward time, naming the op
  local c = tau.randn(3)
  local y = (w * c):sum()
  c:add_(1)
  exact(function() y:backward() end,
        "Tensor:backward: input 2 of mul was modified in place after it was used (version 1, saved at 0)")
  local e = w:exp()
  local le = e:sum()
  tau.no_grad(function() e:mul_(2) end)
  T.raises(function() le:backward() end, "Tensor:backward: a tensor saved by exp was modified in place after it was saved")
  local d = tau.rand(3) + 1
  local ld = (w / d):sum()
  tau.no_grad(function() d:fill_(2) end)
  T.raises(function() ld:backward() end, "Tensor:backward: input 2 of div was modified in place")
  local m = tau.randn(3, 3)
  local lm = w:matmul(m):sum()
  m[1][1] = 5
  T.raises(function() lm:backward() end, "Tensor:backward: input 2 of matmul was modified in place")
  -- tau.grad
  local z = (w * 3):sum()
  exact(function() tau.grad(z, {tau.ones(3)}) end, "tau.grad: input 1 does not require grad")
  exact(function() tau.grad(z, {w, tau.ones(3)}) end, "tau.grad: input 2 does not require grad")
  exact(function() tau.grad(z, "w") end, "tau.grad: argument 2 must be a tensor or a list of tensors, got string")
  exact(function() tau.grad(z, {w, 1}) end, "tau.grad: input 2 is not a tensor (number)")
  exact(function() tau.grad(z, {}) end, "tau.grad: expected 1 to 4096 input tensors, got 0")
  exact(function() tau.grad(nil, {w}) end, "tau.grad: argument 1 must be a tensor, got nil")
  -- requires_grad
  exact(function() tau.ones(2, "int32"):requires_grad() end, "Tensor:requires_grad: only float32 tensors can require grad")
  exact(function() (w * 2):requires_grad(false) end,
        "Tensor:requires_grad: cannot turn off requires_grad of a non-leaf tensor; use detach()")
  exact(function() w:add_(1) end,
        "Tensor:add_: a leaf tensor that requires grad cannot be modified in place (use tau.no_grad, or detach() it first)")
  exact(function() (w + 1):mul_(2) end,
        "Tensor:mul_: in-place operations on a tensor recorded in an autograd graph are not supported; use the out-of-place form")
  exact(function() w.grad = tau.ones(2) end, "Tensor.grad: gradient size must match the tensor's")
  T.raises(function() tau.no_grad(5) end, "bad argument #1 to 'no_grad' (function expected, got number)")
end)

T.test("the core's errors reach Lua without a doubled name", function()
  for _, f in ipairs{
    function() return tau.eye(-1) end, function() return x:view(7) end,
    function() return tau.randint(2, 1, {1}) end, function() return tau.zeros(2):requires_grad():add_(1) end,
    function() return tau.grad((tau.ones(1):requires_grad() * 1):sum(), {tau.ones(1)}) end,
  } do
    local err = T.raises(f)
    local name = err:match(":%d+: ([%w%._:]+): ")
    T.ok(name, err)
    T.ok(not err:find(name .. ": " .. name, 1, true), "doubled name in " .. err)
    local core = err:match(":%d+: [%w%._:]+: (%a+): ")
    T.ok(not core or core == "size" or core == "index", "a core function name leaks into " .. err)
  end
end)
