import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'caliban-jupyter:plugin',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    console.log('caliban-jupyter activated');
  }
};

export default plugin;
