-- Every public function that takes an options table refuses a misspelt key, naming the function
-- and the key and suggesting the valid one, at the caller's line; values of the wrong type or
-- out of range are refused naming the key; accepted keys take effect. The list below is checked
-- against tau.options.specs, where every such function declares its options, so a new function
-- that takes options fails this test until it is listed here.
local T = ...
local fx = require "fixtures"
local F, nn = tau.F, tau.nn
local THIS = "tests/lua/test_options.lua"

tau.manual_seed(7)
for _, m in ipairs{"nn", "optim", "data", "attack", "robust", "train", "models", "corrupt", "io", "gradcheck"} do
  local _ = tau[m] -- loading a module declares its functions' options
end

-- fixtures, small enough that every valid call below runs in well under a second
local x4, w3 = tau.rand(2, 1, 8, 8), tau.randn(1, 1, 3, 3)
local z, y2 = tau.randn(2, 3), tau.tensor({1, 3}, "int32")
local seq = tau.randn(2, 5, 4)
local xg = tau.randn(3):requires_grad()
local mroot = fx.mnist_root{n = 16, n_test = 8}
local train_ds = tau.data.mnist{root = mroot, split = "train"}
local test_ds = tau.data.mnist{root = mroot, split = "test"}
local xs, ys = test_ds:batch({1, 2, 3, 4})
local model = fx.mlp{hidden = 8}
local rgb = tau.rand(1, 3, 16, 16)
local dir = fx.tmpdir()
local cifar_root = fx.cifar10_root{per_batch = 2, n_test = 2}
local folder_root = fx.class_folders(fx.tmpdir(), {per = 1, classes = {"a", "b"}})
local tiny_root = fx.tiny_root{per = 1, nval = 2}
local c100 = fx.tmpdir()
fx.write(c100 .. "/train.bin", fx.cifar_records({{1, 1}, {2, 1}}, "cifar100"))
fx.write(c100 .. "/test.bin", fx.cifar_records({{1, 1}}, "cifar100"))
local mha = nn.MultiheadAttention(4, 2)
local function opt() return tau.optim.SGD(model:parameters(), {lr = 0.1}) end
local fashion = io.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") and true
local p1 = tau.zeros(3):requires_grad()

-- name -> {valid options, function(o) calling it with o (on one line: its line is the error's)}
local cases = {
  ["tau.F.conv2d"] = {{padding = 1}, function(o) return (F.conv2d(x4, w3, nil, o)) end},
  ["tau.F.max_pool2d"] = {{stride = 2}, function(o) return (F.max_pool2d(x4, 2, o)) end},
  ["tau.F.avg_pool2d"] = {{kernel = 2, padding = 1}, function(o) return (F.avg_pool2d(x4, o)) end},
  ["tau.F.batch_norm"] = {{training = true, eps = 1e-3}, function(o) return (F.batch_norm(x4, nil, nil, nil, nil, o)) end},
  ["tau.F.layer_norm"] = {{eps = 1e-3, dims = 2}, function(o) return (F.layer_norm(x4, nil, nil, o)) end},
  ["tau.F.gelu"] = {{approximate = "tanh"}, function(o) return (F.gelu(z, o)) end},
  ["tau.F.dropout"] = {{training = false}, function(o) return (F.dropout(z, 0.5, o)) end},
  ["tau.F.softmax"] = {{dim = 1, tau = 2}, function(o) return (F.softmax(z, o)) end},
  ["tau.F.log_softmax"] = {{dim = 1, tau = 2}, function(o) return (F.log_softmax(z, o)) end},
  ["tau.F.cross_entropy"] = {{tau = 2, label_smoothing = 0.1}, function(o) return (F.cross_entropy(z, y2, o)) end},
  ["tau.F.nll_loss"] = {{reduction = "sum"}, function(o) return (F.nll_loss(z, y2, o)) end},
  ["tau.F.mse_loss"] = {{reduction = "none"}, function(o) return (F.mse_loss(z, z, o)) end},
  ["tau.F.attention"] = {{causal = true}, function(o) return (F.attention(x4, x4, x4, o)) end},
  ["tau.sum"] = {{keepdim = true}, function(o) return (z:sum(1, o)) end},
  ["tau.mean"] = {{keepdim = true}, function(o) return (z:mean(1, o)) end},
  ["tau.prod"] = {{keepdim = true}, function(o) return (z:prod(1, o)) end},
  ["tau.var"] = {{unbiased = false}, function(o) return (z:var(1, o)) end},
  ["tau.std"] = {{unbiased = false}, function(o) return (z:std(1, o)) end},
  ["tau.max"] = {{keepdim = true}, function(o) return (z:max(1, o)) end},
  ["tau.min"] = {{keepdim = true}, function(o) return (z:min(1, o)) end},
  ["tau.logsumexp"] = {{keepdim = true}, function(o) return (z:logsumexp(1, o)) end},
  ["tau.allclose"] = {{atol = 1e-3}, function(o) return (tau.allclose(z, z, o)) end},
  ["Tensor:backward"] = {{retain_graph = true}, function(o) return ((xg * 2):sum():backward(o)) end},
  ["tau.grad"] = {{retain_graph = true}, function(o) return (tau.grad((xg * 2):sum(), {xg}, o)) end},
  ["tau.image.save"] = {{quality = 80}, function(o) return (tau.image.save(dir .. "/a.jpg", rgb[1], o)) end},
  ["Dataset:subset"] = {{first = 2, last = 3}, function(o) return (train_ds:subset(o)) end},
  ["Dataset:batch"] = {{flip = true, pad = 1}, function(o) return (train_ds:batch({1, 2}, o)) end},
  ["tau.gradcheck"] = {{eps = 1e-3}, function(o) return (tau.gradcheck(function(a) return a * a end, {xg}, o)) end},
  ["tau.nn.Linear"] = {{bias = false}, function(o) return (nn.Linear(2, 3, o)) end},
  ["tau.nn.Conv2d"] = {{padding = 1, stride = 2}, function(o) return (nn.Conv2d(1, 2, 3, o)) end},
  ["tau.nn.BatchNorm"] = {{momentum = 0.2}, function(o) return (nn.BatchNorm(3, o)) end},
  ["tau.nn.BatchNorm1d"] = {{eps = 1e-3}, function(o) return (nn.BatchNorm1d(3, o)) end},
  ["tau.nn.BatchNorm2d"] = {{affine = false}, function(o) return (nn.BatchNorm2d(3, o)) end},
  ["tau.nn.LayerNorm"] = {{eps = 1e-3}, function(o) return (nn.LayerNorm(4, o)) end},
  ["tau.nn.GELU"] = {{approximate = "tanh"}, function(o) return (nn.GELU(o)) end},
  ["tau.nn.Softmax"] = {{dim = 1}, function(o) return (nn.Softmax(o)) end},
  ["tau.nn.LogSoftmax"] = {{tau = 2}, function(o) return (nn.LogSoftmax(o)) end},
  ["tau.nn.Flatten"] = {{start_dim = 1}, function(o) return (nn.Flatten(o)) end},
  ["tau.nn.MaxPool2d"] = {{stride = 1}, function(o) return (nn.MaxPool2d(2, o)) end},
  ["tau.nn.AvgPool2d"] = {{padding = 1}, function(o) return (nn.AvgPool2d(2, o)) end},
  ["tau.nn.MultiheadAttention"] = {{dropout = 0.1}, function(o) return (nn.MultiheadAttention(4, 2, o)) end},
  ["tau.nn.MultiheadAttention:forward"] = {{causal = true}, function(o) return (mha(seq, o)) end},
  ["Module:load_state_dict"] = {{strict = false}, function(o) return (model:load_state_dict(model:state_dict(), o)) end},
  ["tau.nn.init.kaiming_uniform_"] = {{mode = "fan_out"}, function(o) return (nn.init.kaiming_uniform_(tau.empty(3, 2), o)) end},
  ["tau.nn.init.kaiming_normal_"] = {{nonlinearity = "relu"}, function(o) return (nn.init.kaiming_normal_(tau.empty(3, 2), o)) end},
  ["tau.nn.init.trunc_normal_"] = {{std = 0.02}, function(o) return (nn.init.trunc_normal_(tau.empty(3, 2), o)) end},
  ["tau.optim.SGD"] = {{lr = 0.1, momentum = 0.9}, function(o) return (tau.optim.SGD({p1}, o)) end},
  ["tau.optim.Adam"] = {{lr = 0.1, amsgrad = true}, function(o) return (tau.optim.Adam({p1}, o)) end},
  ["tau.optim.AdamW"] = {{weight_decay = 0.1}, function(o) return (tau.optim.AdamW({p1}, o)) end},
  ["tau.optim.SGD (parameter group)"] = {{lr = 0.2}, function(o) o.params = {p1}; return (tau.optim.SGD({o}, {lr = 0.1})) end},
  ["tau.optim.Adam (parameter group)"] = {{eps = 1e-6}, function(o) o.params = {p1}; return (tau.optim.Adam({o})) end},
  ["tau.optim.AdamW (parameter group)"] = {{lr = 0.2}, function(o) o.params = {p1}; return (tau.optim.AdamW({o})) end},
  ["tau.optim.cosine"] = {{epochs = 3, warmup = 1}, function(o) return (tau.optim.cosine(opt(), o)) end},
  ["tau.optim.multistep"] = {{milestones = {1, 2}, gamma = 0.5}, function(o) return (tau.optim.multistep(opt(), o)) end},
  ["tau.optim.step_lr"] = {{step_size = 2}, function(o) return (tau.optim.step_lr(opt(), o)) end},
  ["tau.data.fashion_mnist"] = {fashion and {split = "test"}, function(o) return (tau.data.fashion_mnist(o)) end},
  ["tau.data.mnist"] = {{root = mroot, split = "test"}, function(o) return (tau.data.mnist(o)) end},
  ["tau.data.cifar10"] = {{root = cifar_root, split = "test"}, function(o) return (tau.data.cifar10(o)) end},
  ["tau.data.cifar100"] = {{root = c100, labels = "coarse"}, function(o) return (tau.data.cifar100(o)) end},
  ["tau.data.tiny_imagenet"] = {{root = tiny_root, split = "val"}, function(o) return (tau.data.tiny_imagenet(o)) end},
  ["tau.data.image_folder"] = {{root = folder_root, channels = 1}, function(o) return (tau.data.image_folder(o)) end},
  ["tau.data.loader"] = {{batch = 4, shuffle = true, augment = {flip = true}}, function(o) return (tau.data.loader(train_ds, o)) end},
  ["tau.attack.fgsm"] = {{eps = 0.1}, function(o) return (tau.attack.fgsm(model, xs, ys, o)) end},
  ["tau.attack.pgd"] = {{eps = 0.1, steps = 1}, function(o) return (tau.attack.pgd(model, xs, ys, o)) end},
  ["tau.attack.apgd"] = {{eps = 0.1, steps = 2}, function(o) return (tau.attack.apgd(model, xs, ys, o)) end},
  ["tau.attack.accuracy"] = {{batch = 2}, function(o) return (tau.attack.accuracy(model, xs, ys, o)) end},
  ["tau.attack.transfer"] = {{attack = "fgsm", eps = 0.1}, function(o) return (tau.attack.transfer(model, model, xs, ys, o)) end},
  ["tau.attack.loss"] = {{loss = "cw"}, function(o) return (tau.attack.loss(z, y2, o)) end},
  ["tau.attack.input_grad"] = {{tau = 2}, function(o) return (tau.attack.input_grad(model, xs, ys, o)) end},
  ["tau.robust.clean_accuracy"] = {{batch = 4}, function(o) return (tau.robust.clean_accuracy(model, test_ds, o)) end},
  ["tau.robust.corruption_accuracy"] = {{names = {"contrast"}, severity = 1}, function(o) return (tau.robust.corruption_accuracy(model, test_ds, o)) end},
  ["tau.robust.attack_accuracy"] = {{eps = 0.1, steps = 1, record = 2}, function(o) return (tau.robust.attack_accuracy(model, test_ds, "pgd", o)) end},
  ["tau.robust.pgd_accuracy"] = {{eps = 0.1, steps = 1}, function(o) return (tau.robust.pgd_accuracy(model, test_ds, o)) end},
  ["tau.robust.evaluate"] = {{eps = {0.05}, steps = 1, corruptions = false, apgd = false, targeted = false, quiet = true}, function(o) return (tau.robust.evaluate(model, test_ds, o)) end},
  ["tau.train.evaluate"] = {{batch = 4, tau = 2}, function(o) return (tau.train.evaluate(model, test_ds, o)) end},
  ["tau.train.fit"] = {{epochs = 1, max_steps = 1, batch = 8, quiet = true, checkpoint = false}, function(o) return (tau.train.fit(model, train_ds, o)) end},
  ["tau.models.cnn"] = {{channels = 1, image = 8, width = 2, hidden = 4}, function(o) return (tau.models.cnn(o)) end},
  ["tau.models.resnet"] = {{depth = 8, width = 4, channels = 1}, function(o) return (tau.models.resnet(o)) end},
  ["tau.models.vit"] = {{patch = 4, dim = 8, depth = 1, heads = 2, image = 8}, function(o) return (tau.models.vit(o)) end},
  ["tau.models.mlp"] = {{inputs = 4, hidden = 3}, function(o) return (tau.models.mlp(o)) end},
  ["tau.corrupt.apply"] = {{seed = 1}, function(o) return (tau.corrupt.apply(rgb, "gaussian_noise", 1, o)) end},
  ["tau.corrupt.shift"] = {{rotate = 5}, function(o) return (tau.corrupt.shift(rgb, o)) end},
  ["tau.corrupt.random_shift"] = {{rotate = 5, seed = 2}, function(o) return (tau.corrupt.random_shift(rgb, o)) end},
}

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- The error of call(o) must carry the line of call itself, in this file. (Each call closure
-- returns its value in parentheses: a tail call would leave no frame, hence no line, behind.)
local function raised_here(call, o, ...)
  local err = T.raises(function() return (call(o)) end, ...)
  local line = debug.getinfo(call, "S").linedefined
  T.ok(err:find("^" .. THIS:gsub("%p", "%%%0") .. ":" .. line .. ": "), "error not at the caller's line " .. line .. ": " .. err)
  return err
end

T.test("every function that declares options is listed here, and only those", function()
  for _, name in ipairs(sorted_keys(tau.options.specs)) do
    T.ok(cases[name], name .. " takes options but is not covered by test_options.lua")
  end
  for _, name in ipairs(sorted_keys(cases)) do
    T.ok(tau.options.specs[name], name .. " is listed here but declares no options")
  end
end)

T.test("each function works with valid options", function()
  for _, name in ipairs(sorted_keys(cases)) do
    local good, call = cases[name][1], cases[name][2]
    if good then
      local ok, err = pcall(call, copy(good))
      T.ok(ok, name .. " refused valid options: " .. tostring(err))
    end
  end
end)

T.test("a misspelt key names the function, the key and the nearest valid one, at the caller's line", function()
  for _, name in ipairs(sorted_keys(cases)) do
    local good, call = cases[name][1], cases[name][2]
    -- misspell a key the valid call uses (or the first declared one) by doubling its last letter
    local key = next(good or {}) and sorted_keys(good)[1] or sorted_keys(tau.options.specs[name])[1]
    local bad = key .. key:sub(-1)
    local o = copy(good)
    o[key] = nil
    o[bad] = (good or {})[key] or 1
    raised_here(call, o, name .. ": unknown option '" .. bad .. "' (did you mean '" .. key .. "'?)")
  end
end)

T.test("the issue's examples", function()
  local p = tau.zeros(2):requires_grad()
  raised_here(function(o) return (tau.optim.SGD({p}, o)) end, {lr = 0.1, momentun = 0.9},
              "tau.optim.SGD: unknown option 'momentun' (did you mean 'momentum'?)")
  raised_here(function(o) return (nn.Conv2d(1, 1, 3, o)) end, {paddin = 1},
              "tau.nn.Conv2d: unknown option 'paddin' (did you mean 'padding'?)")
  raised_here(function(o) return (F.softmax(z, o)) end, {dimm = 1}, "tau.F.softmax: unknown option 'dimm' (did you mean 'dim'?)")
  -- far from every key: the valid ones are listed instead
  raised_here(function(o) return (F.softmax(z, o)) end, {temperature = 1}, "tau.F.softmax: unknown option 'temperature' (valid: dim, tau)")
  raised_here(function(o) return (tau.data.loader(train_ds, o)) end, {augment = {flips = true}},
              "tau.data.loader: unknown augment option 'flips' (did you mean 'flip'?)")
end)

T.test("wrong types and ranges name the function and the key", function()
  local p = tau.zeros(2):requires_grad()
  raised_here(function(o) return (tau.optim.SGD({p}, o)) end, {lr = 0.1, momentum = -1},
              "tau.optim.SGD: momentum must be a non-negative number, got -1")
  raised_here(function(o) return (tau.optim.SGD({p}, o)) end, {lr = 0.1, nesterov = "yes"},
              "tau.optim.SGD: nesterov must be a boolean, got yes")
  raised_here(function(o) return (tau.optim.SGD({p}, o)) end, 5, "tau.optim.SGD: options must be a table, got number")
  raised_here(function(o) return (F.softmax(z, o)) end, {dim = 1.5}, "tau.F.softmax: dim must be an integer, got 1.5")
  raised_here(function(o) return (F.cross_entropy(z, y2, o)) end, {reduction = "avg"},
              "tau.F.cross_entropy: reduction must be 'mean', 'sum' or 'none', got avg")
  raised_here(function(o) return (nn.Conv2d(1, 1, 3, o)) end, {groups = 0}, "tau.nn.Conv2d: groups must be a positive integer, got 0")
  raised_here(function(o) return (nn.GELU(o)) end, {approximate = "fast"}, "tau.nn.GELU: approximate must be 'none' or 'tanh', got fast")
  raised_here(function(o) return (tau.data.loader(train_ds, o)) end, {batch = 2.5},
              "tau.data.loader: batch must be a positive integer, got 2.5")
  raised_here(function(o) return (tau.data.loader(train_ds, o)) end, {augment = {crop = "x"}},
              "tau.data.loader: augment.crop must be an integer, got x")
  raised_here(function(o) return (tau.attack.apgd(model, xs, ys, o)) end, {rho = 2}, "tau.attack.apgd: rho must be a number in [0, 1], got 2")
  raised_here(function(o) return (tau.optim.cosine(opt(), o)) end, {}, "tau.optim.cosine: option 'epochs' is required")
  raised_here(function(o) return (tau.train.fit(model, train_ds, o)) end, {adversarial = {method = "fgsm"}},
              "tau.train.fit: adversarial.method must be 'pgd' or 'trades', got fgsm")
end)

T.test("errors of argument checks point at the caller's line too", function()
  raised_here(function(k) return (nn.Conv2d(1, 1, k)) end, "x", "tau.nn.Conv2d: kernel size must be a number or a pair {h, w}, got x")
  raised_here(function(o) return (tau.attack.pgd(42, xs, ys, o)) end, {}, "tau.attack.pgd: model must be callable")
  raised_here(function(o) return (tau.optim.SGD({p1}, o)) end, {}, "tau.optim.SGD: a learning rate 'lr' is required")
  raised_here(function(m) return (tau.corrupt.apply(rgb, m, 1)) end, "fogg", "tau.corrupt.apply: unknown corruption 'fogg'")
  raised_here(function(b) return (seq:sum(1, b)) end, {keepdim = 1}, "tau.sum: keepdim must be a boolean, got 1")
end)

T.test("accepted keys take effect: SGD momentum, Conv2d padding, softmax dim", function()
  -- two steps on a gradient of 1: without momentum p = -2 lr, with it p = -(1 + 1 + m) lr
  local function run(m)
    local p = tau.zeros(1):requires_grad()
    local o = tau.optim.SGD({p}, {lr = 0.1, momentum = m})
    for _ = 1, 2 do
      o:zero_grad()
      p:sum():backward()
      o:step()
    end
    return p:item()
  end
  T.near(run(0), -0.2, 1e-6)
  T.near(run(0.9), -0.29, 1e-6)
  T.eq(table.concat(nn.Conv2d(1, 1, 3)(x4):size(), "x"), "2x1x6x6")
  T.eq(table.concat(nn.Conv2d(1, 1, 3, {padding = 1})(x4):size(), "x"), "2x1x8x8")
  T.close(F.softmax(z, {dim = 1}):sum(1), {1, 1, 1})
  T.close(F.softmax(z, {dim = 2}):sum(2), {1, 1})
  T.close(F.softmax(z, {tau = 2}), F.softmax(z / 2))
end)

T.test("tau.options.check fills defaults, copies, and checks nested tables", function()
  local spec = {n = {"integer", min = 1, default = 3}, f = {"boolean", default = false},
                sub = {"table", fields = {a = {"number", default = 0.5}}}}
  local o = tau.options.check("f", nil, spec)
  T.eq(o.n, 3)
  T.eq(o.f, false)
  local given = {n = 2, sub = {}}
  local c = tau.options.check("f", given, spec)
  T.eq(c.n, 2)
  T.eq(c.sub.a, 0.5)
  T.eq(given.sub.a, nil, "the caller's table is left as it was")
  raised_here(function(g) return (tau.options.check("f", g, spec)) end, {sub = {b = 1}}, "f: unknown sub option 'b'")
  raised_here(function(g) return (tau.options.check("f", g, spec)) end, {n = 0}, "f: n must be a positive integer, got 0")
end)

-- A BatchNorm put in evaluation mode on purpose inside a model that trains.
local function frozen_model()
  local m = nn.Sequential{nn.Flatten(), nn.Linear(144, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)}
  m:train()
  m[3]:evaluate()
  return m
end

local function modes_kept(m, what)
  T.eq(m.training, true, what .. ": the model is back in training mode")
  T.eq(m[2].training, true, what .. ": the linear layer is back in training mode")
  T.eq(m[3].training, false, what .. ": the frozen BatchNorm stays in evaluation mode")
end

T.test("with_eval: every module evaluates, and each gets its own flag back", function()
  local m = frozen_model()
  local seen = nn.with_eval(m, function()
    for _, sub in ipairs(m:modules()) do T.eq(sub.training, false) end
    return "ran"
  end)
  T.eq(seen, "ran")
  modes_kept(m, "with_eval")
  T.raises(function() nn.with_eval(m, function() error("boom") end) end, "boom")
  modes_kept(m, "with_eval after an error")
  T.eq(nn.with_eval(function(x) return x end, function(a) return a + 1 end, 1), 2, "a plain function has no mode")
end)

T.test("with_eval: evaluation, attacks and robustness keep a frozen BatchNorm frozen", function()
  local m = frozen_model()
  tau.train.evaluate(m, test_ds, {batch = 4})
  modes_kept(m, "tau.train.evaluate")
  tau.attack.pgd(m, xs, ys, {eps = 0.1, steps = 1})
  modes_kept(m, "tau.attack.pgd")
  tau.attack.accuracy(m, xs, ys)
  modes_kept(m, "tau.attack.accuracy")
  tau.robust.clean_accuracy(m, test_ds)
  modes_kept(m, "tau.robust.clean_accuracy")
  tau.robust.corruption_accuracy(m, test_ds, {names = {"contrast"}, severity = 1})
  modes_kept(m, "tau.robust.corruption_accuracy")
  tau.robust.attack_accuracy(m, test_ds, "fgsm", {eps = 0.1, record = 2})
  modes_kept(m, "tau.robust.attack_accuracy")
  tau.robust.evaluate(m, test_ds, {eps = {0.05}, steps = 1, corruptions = false, apgd = false, targeted = false,
                                   quiet = true})
  modes_kept(m, "tau.robust.evaluate")
  T.raises(function() tau.train.evaluate(m, test_ds, {transform = function() error("bad transform") end}) end,
           "bad transform")
  modes_kept(m, "tau.train.evaluate after an error")
end)

fx.rmdir(dir)
