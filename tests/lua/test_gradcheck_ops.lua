-- Finite-difference gradient checks for every differentiable tensor op: binary (with
-- broadcasting and non-contiguous inputs), unary inside their domains, reductions, matmul,
-- where, the view ops, cat, stack and the indexing ops.
local T = ...
tau.manual_seed(7)

local function check(name, fn, make_inputs, opts)
  T.test("gradcheck " .. name, function()
    local inputs = make_inputs()
    local ok, msg = tau.gradcheck(fn, inputs, opts)
    T.ok(ok, msg)
  end)
end

-- Leaves of various layouts; `away` keeps values at least that far from 0 (kinks, poles).
local function leaf(...) return tau.randn(...):requires_grad() end
local function pos(...) return (tau.rand(...) + 0.5):requires_grad() end
local function away(x, d)
  d = d or 0.2
  return (x + x:sign() * d):requires_grad()
end
-- A (r, c) leaf whose storage is transposed: strides (1, r).
local function tleaf(r, c) return tau.randn(c, r):t():requires_grad() end
local function tpos(r, c) return (tau.rand(c, r) + 0.5):t():requires_grad() end
-- A narrowed (non-contiguous, offset) leaf of size (r, c).
local function nleaf(r, c) return tau.randn(r, c + 3):narrow(2, 2, c):requires_grad() end

-- ---------------------------------------------------------------- binary ops
local binary = {
  add = function(a, b) return a + b end,
  sub = function(a, b) return a - b end,
  mul = function(a, b) return a * b end,
  div = function(a, b) return a / b end,
  maximum = function(a, b) return tau.maximum(a, b) end,
  minimum = function(a, b) return tau.is_tensor(a) and a:minimum(b) or tau.minimum(a, b) end,
}
for _, name in ipairs{"add", "sub", "mul", "div", "maximum", "minimum"} do
  local f = binary[name]
  local rhs = name == "div" and pos or leaf
  check(name .. " same shape", f, function() return {leaf(3, 4), rhs(3, 4)} end)
  check(name .. " broadcast (4,1,3) with (2,1)", f, function() return {leaf(4, 1, 3), rhs(2, 1)} end)
  check(name .. " broadcast (2,1) with (4,1,3)", f, function() return {leaf(2, 1), (name == "div" and pos or leaf)(4, 1, 3)} end)
  check(name .. " transposed and narrowed", f, function()
    return {tleaf(3, 4), name == "div" and tpos(3, 4) or nleaf(3, 4)}
  end)
  check(name .. " with a 0-dim tensor", f, function() return {leaf(2, 3), (name == "div" and pos or leaf)()} end)
  check(name .. " one side constant", f, function() return {leaf(2, 3), rhs(3):detach()} end)
  check(name .. " number on the right", function(a) return f(a, 1.5) end, function() return {leaf(2, 3)} end)
  check(name .. " number on the left", function(a) return f(0.7, a) end,
        function() return {name == "div" and pos(2, 3) or leaf(2, 3)} end)
end
check("pow tensor ^ tensor", function(a, b) return a ^ b end, function() return {pos(3, 4), leaf(3, 4)} end)
check("pow broadcast (4,1,3) with (2,1)", function(a, b) return tau.pow(a, b) end,
      function() return {pos(4, 1, 3), leaf(2, 1)} end)
check("pow transposed", function(a, b) return a:pow(b) end, function() return {tpos(3, 4), tleaf(3, 4)} end)
check("pow number ^ tensor", function(b) return 1.7 ^ b end, function() return {leaf(2, 3)} end)
check("pow tensor ^ 3", function(a) return a ^ 3 end, function() return {leaf(2, 3)} end)
check("pow tensor ^ 2", function(a) return a ^ 2 end, function() return {tleaf(2, 3)} end)
check("pow tensor ^ 0.5", function(a) return a ^ 0.5 end, function() return {pos(2, 3)} end)
check("pow tensor ^ -1.5", function(a) return a ^ -1.5 end, function() return {pos(2, 3)} end)
check("pow tensor ^ 0", function(a) return a ^ 0 end, function() return {leaf(4)} end)
check("a * a (same tensor twice)", function(a) return a * a end, function() return {leaf(3, 2)} end)
check("maximum with broadcast ties excluded", function(a, b) return tau.maximum(a, b) * tau.minimum(b, a) end,
      function() return {leaf(3, 1), leaf(1, 4)} end)

-- ---------------------------------------------------------------- unary ops
local unary = {
  {"neg", leaf}, {"exp", leaf}, {"log", pos}, {"sqrt", pos}, {"rsqrt", pos},
  {"abs", function(...) return away(tau.randn(...)) end},
  {"sign", function(...) return away(tau.randn(...)) end},
  {"tanh", leaf}, {"sigmoid", leaf},
  {"relu", function(...) return away(tau.randn(...)) end},
  {"floor", function(...) return (tau.rand(...) * 0.8 + 0.1):requires_grad() end},
  {"ceil", function(...) return (tau.rand(...) * 0.8 + 0.1):requires_grad() end},
  {"round", function(...) return (tau.rand(...) * 0.3 + 0.1):requires_grad() end},
  {"sin", leaf}, {"cos", leaf}, {"log1p", function(...) return tau.rand(...):requires_grad() end},
  {"expm1", leaf}, {"reciprocal", pos}, {"square", leaf}, {"erf", leaf},
}
for _, u in ipairs(unary) do
  local name, make = u[1], u[2]
  check(name, function(x) return x[name](x) end, function() return {make(3, 4)} end)
  check(name .. " as tau." .. name .. " on a transposed input", function(x) return tau[name](x) end,
        function() return {make(4, 3):detach():t():requires_grad()} end)
end
check("clamp both bounds", function(x) return x:clamp(-0.5, 0.5) end, function()
  local x = tau.randn(4, 5)
  return {tau.where(x:gt(-0.55):int() * x:lt(-0.45):int(), x - 0.2, x):requires_grad()}
end, {eps = 1e-4})
check("clamp lower bound only", function(x) return tau.clamp(x, 0.1) end,
      function() return {(tau.rand(3, 3) * 0.05 + tau.tensor{0, 0.5, -0.5}):requires_grad()} end, {eps = 1e-4})
check("clamp upper bound only", function(x) return x:clamp(nil, 0.1) end,
      function() return {(tau.rand(3, 3) * 0.05 + tau.tensor{0, 0.5, -0.5}):requires_grad()} end, {eps = 1e-4})
check("unary chain exp(sin(x)) * log(x^2 + 1)", function(x) return x:sin():exp() * (x ^ 2 + 1):log() end,
      function() return {tleaf(3, 3)} end)

-- ---------------------------------------------------------------- reductions
local reductions = {"sum", "mean", "prod", "var", "std", "max", "min", "logsumexp"}
for _, name in ipairs(reductions) do
  local make = name == "prod" and pos or leaf
  check(name .. " over all", function(x) return x[name](x) end, function() return {make(3, 4)} end)
  for dim = 1, 3 do
    check(name .. " over dim " .. dim, function(x) return (x[name](x, dim)) end,
          function() return {make(2, 3, 4)} end)
    check(name .. " over dim " .. dim .. " keepdim", function(x) return (x[name](x, dim, true)) end,
          function() return {make(2, 3, 4)} end)
  end
  check(name .. " over dim -1 of a transposed input", function(x) return (x[name](x, -1)) end,
        function() return {name == "prod" and tpos(3, 4) or tleaf(3, 4)} end)
  check(name .. " over all, keepdim", function(x) return x[name](x, {keepdim = true}) end,
        function() return {make(2, 3)} end)
end
check("var biased over dim 2", function(x) return x:var(2, {unbiased = false}) end, function() return {leaf(3, 4)} end)
check("std biased over all", function(x) return x:std({unbiased = false}) end, function() return {leaf(3, 4)} end)
check("prod with a zero", function(x) return x:prod(2) end,
      function() return {tau.tensor{{0, 2, 3}, {1, 0, 0}, {2, 3, 4}}:requires_grad()} end)
check("mean of a 0-dim tensor over dim 1", function(x) return x:mean(1) end,
      function() return {tau.tensor(3):requires_grad()} end)
check("max with keepdim feeding a broadcast", function(x) return x - (x:max(2, true)) end,
      function() return {leaf(3, 4)} end)

-- ---------------------------------------------------------------- matmul
local mm = function(a, b) return a:matmul(b) end
check("matmul 1-D . 1-D", mm, function() return {leaf(4), leaf(4)} end)
check("matmul 1-D . 2-D", mm, function() return {leaf(3), leaf(3, 4)} end)
check("matmul 2-D . 1-D", mm, function() return {leaf(2, 3), leaf(3)} end)
check("matmul 2-D . 2-D", mm, function() return {leaf(2, 3), leaf(3, 4)} end)
check("matmul transposed operands", mm, function() return {tleaf(2, 3), tleaf(3, 4)} end)
check("matmul narrowed operands", mm, function() return {nleaf(2, 3), nleaf(3, 2)} end)
check("matmul batched", mm, function() return {leaf(2, 2, 3), leaf(2, 3, 2)} end)
check("matmul broadcast batch", mm, function() return {leaf(2, 1, 2, 3), leaf(3, 3, 2)} end)
check("matmul batched with a 2-D operand", mm, function() return {leaf(2, 2, 3), leaf(3, 2)} end)
check("matmul 1-D with a batch", mm, function() return {leaf(3), leaf(2, 3, 2)} end)
check("matmul batch with 1-D", mm, function() return {leaf(2, 2, 3), leaf(3)} end)
check("matmul batched transposed", function(a, b) return a:matmul(b:transpose(2, 3)) end,
      function() return {leaf(2, 2, 3), leaf(2, 2, 3)} end)
check("matmul one side constant", mm, function() return {leaf(2, 3), tau.randn(3, 2)} end)
check("mm and bmm", function(a, b, c) return a:mm(b):sum() + tau.bmm(c, c:transpose(2, 3)):sum() end,
      function() return {leaf(2, 3), leaf(3, 2), leaf(2, 2, 3)} end)

-- ---------------------------------------------------------------- where
check("where", function(a, b) return tau.where(tau.tensor{{1, 0, 1}, {0, 0, 1}}, a, b) end,
      function() return {leaf(2, 3), leaf(2, 3)} end)
check("where broadcast with a number", function(a) return tau.where(tau.tensor{1, 0, 1}:int(), a, 2) end,
      function() return {leaf(2, 3)} end)
check("where broadcast operands", function(a, b) return tau.where(tau.tensor{{1}, {0}}, a, b) end,
      function() return {leaf(3), tleaf(2, 3)} end)

-- ---------------------------------------------------------------- views
local views = {
  {"view", function(x) return x:view(4, 3) end, {3, 4}},
  {"view -1", function(x) return x:view(-1) end, {3, 4}},
  {"reshape of a transposed tensor", function(x) return x:t():reshape(12) end, {3, 4}},
  {"transpose", function(x) return x:transpose(1, 3) end, {2, 3, 4}},
  {"t", function(x) return x:t() end, {3, 4}},
  {"permute", function(x) return x:permute(3, 1, 2) end, {2, 3, 4}},
  {"permute table", function(x) return x:permute{2, 3, 1} end, {2, 3, 4}},
  {"narrow", function(x) return x:narrow(2, 2, 2) end, {3, 4}},
  {"select", function(x) return x:select(2, 3) end, {3, 4}},
  {"index x[i]", function(x) return x[2] end, {3, 4}},
  {"index x[-1]", function(x) return x[-1] end, {3, 4, 2}},
  {"expand", function(x) return x:expand(2, 3, 4) end, {3, 1}},
  {"expand -1", function(x) return x:expand(-1, 5) end, {3, 1}},
  {"squeeze", function(x) return x:squeeze() end, {3, 1, 2}},
  {"squeeze dim", function(x) return x:squeeze(2) end, {3, 1, 2}},
  {"unsqueeze", function(x) return x:unsqueeze(2) end, {3, 2}},
  {"unsqueeze last", function(x) return x:unsqueeze(-1) end, {3, 2}},
  {"flatten", function(x) return x:flatten() end, {2, 3, 2}},
  {"flatten 2..3", function(x) return x:flatten(2, 3) end, {2, 3, 2}},
  {"contiguous", function(x) return x:t():contiguous() end, {3, 4}},
  {"clone", function(x) return x:clone() end, {3, 4}},
  {"float", function(x) return x:float() end, {3, 4}},
  {"chained views", function(x) return x:t():narrow(1, 2, 2):unsqueeze(1):expand(3, 2, 3) end, {3, 4}},
}
for _, v in ipairs(views) do
  check(v[1], v[2], function() return {leaf(table.unpack(v[3]))} end)
end
check("view of a non-contiguous leaf", function(x) return x:view(2, 2, 3) end, function() return {nleaf(4, 3)} end)

-- ---------------------------------------------------------------- joining and indexing
check("cat dim 1", function(a, b) return tau.cat({a, b}) end, function() return {leaf(2, 3), leaf(1, 3)} end)
check("cat dim 2 with a transposed input", function(a, b) return tau.cat({a, b, a}, 2) end,
      function() return {leaf(3, 2), tleaf(3, 4)} end)
check("cat with a constant", function(a) return tau.cat({a, tau.zeros(2, 2)}, -1) end, function() return {leaf(2, 3)} end)
check("stack dim 1", function(a, b) return tau.stack({a, b}) end, function() return {leaf(2, 3), leaf(2, 3)} end)
check("stack last dim", function(a, b) return tau.stack({a, b, a}, 3) end, function() return {leaf(2, 3), tleaf(2, 3)} end)
check("index_select dim 1 with repeats", function(x) return x:index_select(1, {3, 1, 3}) end,
      function() return {leaf(4, 3)} end)
check("index_select dim 2", function(x) return tau.index_select(x, 2, tau.tensor({2, 2}, "int32")) end,
      function() return {tleaf(4, 3)} end)
check("gather dim 2", function(x) return x:gather(2, {{1, 1}, {3, 2}, {2, 3}}) end, function() return {leaf(3, 3)} end)
check("gather dim 1", function(x) return x:gather(1, {{2, 1, 1}}) end, function() return {tleaf(2, 3)} end)
check("scatter_add both inputs", function(x, src) return x:scatter_add(2, {{1, 1}, {3, 1}}, src) end,
      function() return {leaf(2, 3), leaf(2, 2)} end)
check("scatter_add dim 1, src only", function(src) return tau.scatter_add(tau.zeros(3, 2), 1, {{3, 3}, {1, 3}}, src) end,
      function() return {leaf(2, 2)} end)

-- ---------------------------------------------------------------- compositions
check("small MLP", function(x, w1, b1, w2)
  return ((x:matmul(w1) + b1):tanh():matmul(w2)):logsumexp(2)
end, function() return {leaf(3, 4), leaf(4, 5), leaf(5), leaf(5, 2)} end)
check("softmax by hand", function(z) return (z - z:logsumexp(2, true)):exp() end, function() return {leaf(2, 5)} end)
check("normalisation by hand", function(x) return (x - x:mean(1, true)) / (x:var(1, true) + 1e-3):sqrt() end,
      function() return {leaf(4, 3)} end)
